"""Whereabouts are sensitive under PP-01: encrypt device records' IP address and region at rest.

1. Both columns become plain text (an IP address column is ``inet`` on PostgreSQL and a region
   ``varchar(100)``: neither holds a Fernet token).
2. The existing plaintext values are encrypted in batches (an IP address without the "/32" that
   PostgreSQL's cast from ``inet`` adds), by primary key, with a progress bar.
   Values that already decrypt are left alone, and the migration is not atomic: a run killed half
   way keeps its finished batches, and the rerun encrypts the rest and finishes.
3. The fields become ``EncryptedTextField`` (same text column, no schema change).
"""

import sys

import django.core.validators
from django import db
from django.db import migrations, models, transaction

import accounts.privacy.fields
from accounts.privacy import crypto
from accounts.progress import progress

BATCH = 2000
COLUMNS = ("ip_address", "region")


def _is_token(value: str) -> bool:
    try:
        crypto.decrypt_str(value)
    except (crypto.DecryptionError, UnicodeEncodeError):
        return False
    return True


def _host(ip_address):
    """PostgreSQL turns ``inet`` into text with its prefix ("203.0.113.5/32"); Django stored hosts only."""
    if ip_address in (None, "") or _is_token(ip_address):
        return ip_address
    return ip_address.partition("/")[0]


def _encrypted(value):
    if value in (None, "") or _is_token(value):
        return value
    return crypto.encrypt_str(value)


def _decrypted(value):
    return crypto.decrypt_str(value) if value not in (None, "") and _is_token(value) else value


def encrypt_existing(apps, schema_editor, convert=None):
    """Encrypt each plaintext IP address and region; ``convert`` (the reverse) decrypts instead."""
    connection = schema_editor.connection if schema_editor is not None else db.connection
    model = apps.get_model("accounts", "DeviceRecord")
    rows = model.objects.using(connection.alias)
    quote = connection.ops.quote_name
    update = "UPDATE {} SET {} = %s, {} = %s WHERE {} = %s".format(  # noqa: S608 (our table and columns)
        quote(model._meta.db_table), quote("ip_address"), quote("region"), quote("id")
    )
    bar = progress(total=rows.count(), desc="Device IP addresses and regions", unit="row",
                   enabled=sys.stderr.isatty())
    last = 0
    while True:
        batch = list(rows.filter(pk__gt=last).order_by("pk").values_list("pk", *COLUMNS)[:BATCH])
        if not batch:
            break
        params = []
        for pk, ip_address, region in batch:
            encrypted = convert(ip_address, region) if convert else [_encrypted(_host(ip_address)), _encrypted(region)]
            if encrypted != [ip_address, region]:
                params.append([*encrypted, pk])
        if params:
            # One transaction a batch: a killed run keeps the batches it finished.
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.executemany(update, params)
        last = batch[-1][0]
        bar.update(len(batch))
    bar.close()


def decrypt_existing(apps, schema_editor):
    """The reverse: plaintext again, so the columns can go back to ``inet``/``varchar``."""
    encrypt_existing(apps, schema_editor, convert=lambda ip_address, region: [_decrypted(ip_address), _decrypted(region)])


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0010_product_line_attribution"),
    ]

    operations = [
        migrations.AlterField(
            model_name="devicerecord",
            name="ip_address",
            field=models.TextField(blank=True, null=True, verbose_name="IP address"),
        ),
        migrations.AlterField(
            model_name="devicerecord",
            name="region",
            field=models.TextField(blank=True, verbose_name="region"),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.AlterField(
            model_name="devicerecord",
            name="ip_address",
            field=accounts.privacy.fields.EncryptedTextField(
                blank=True, null=True, validators=[django.core.validators.validate_ipv46_address],
                verbose_name="IP address",
            ),
        ),
        migrations.AlterField(
            model_name="devicerecord",
            name="region",
            field=accounts.privacy.fields.EncryptedTextField(blank=True, verbose_name="region"),
        ),
    ]
