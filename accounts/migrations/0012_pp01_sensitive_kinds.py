"""Whereabouts are sensitive under PP-01: encrypt device records' IP address and region at rest.

1. Both columns become plain text (an IP address column is ``inet`` on PostgreSQL and a region
   ``varchar(100)``: neither holds a Fernet token).
2. The existing plaintext values are encrypted in batches (an IP address without the "/32" that
   PostgreSQL's cast from ``inet`` adds), by primary key, with a progress bar.
   Values that already decrypt are left alone, and the migration is not atomic: a run killed half
   way keeps its finished batches, and the rerun encrypts the rest and finishes.
3. The fields become ``EncryptedTextField`` (same text column, no schema change).
"""

import django.core.validators
from django.db import migrations, models

import accounts.privacy.fields
from accounts.column_encryption import decrypt_columns, encrypt_columns, host

COLUMNS = ("ip_address", "region")
LABEL = "Device IP addresses and regions"


def encrypt_existing(apps, schema_editor):
    """Encrypt each plaintext IP address (without PostgreSQL's "/32") and region."""
    model = apps.get_model("accounts", "DeviceRecord")
    encrypt_columns(model, schema_editor, COLUMNS, label=LABEL, normalise={"ip_address": host})


def decrypt_existing(apps, schema_editor):
    """The reverse: plaintext again, so the columns can go back to ``inet``/``varchar``."""
    decrypt_columns(apps.get_model("accounts", "DeviceRecord"), schema_editor, COLUMNS, label=LABEL)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0011_encrypt_transactions"),
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
