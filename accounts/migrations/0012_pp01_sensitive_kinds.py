"""Whereabouts are sensitive under PP-01: encrypt device records' IP address and region at rest.

1. Both columns become plain text (an IP address column is ``inet`` on PostgreSQL and a region
   ``varchar(100)``: neither holds a Fernet token).
2. The existing plaintext values are encrypted in batches, by primary key, with a progress bar.
   Values that already decrypt are left alone, and the migration is not atomic: a run killed half
   way keeps its finished batches, and the rerun encrypts the rest and finishes.
3. The fields become ``EncryptedTextField`` (same text column, no schema change).
"""

import sys

import django.core.validators
from django.db import migrations, models

import accounts.privacy.fields
from accounts.privacy import crypto
from accounts.progress import progress

BATCH = 500
COLUMNS = ("ip_address", "region")


def _is_token(value: str) -> bool:
    try:
        crypto.decrypt_str(value)
    except (crypto.DecryptionError, UnicodeEncodeError):
        return False
    return True


def encrypt_existing(apps, schema_editor):
    model = apps.get_model("accounts", "DeviceRecord")
    rows = model.objects
    bar = progress(total=rows.count(), desc="Encrypting device IP addresses and regions", unit="row",
                   enabled=sys.stderr.isatty())
    last = 0
    while True:
        batch = list(rows.filter(pk__gt=last).order_by("pk").values_list("pk", *COLUMNS)[:BATCH])
        if not batch:
            break
        pending = []
        for pk, *values in batch:
            changes = {
                name: crypto.encrypt_str(value)
                for name, value in zip(COLUMNS, values, strict=True)
                if value not in (None, "") and not _is_token(value)
            }
            if changes:
                pending.append(model(pk=pk, **{name: changes.get(name, value)
                                               for name, value in zip(COLUMNS, values, strict=True)}))
        if pending:
            rows.bulk_update(pending, list(COLUMNS))
        last = batch[-1][0]
        bar.update(len(batch))
    bar.close()


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0009_task_outbox_and_scheduled_runs"),
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
        migrations.RunPython(encrypt_existing, migrations.RunPython.noop),
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
