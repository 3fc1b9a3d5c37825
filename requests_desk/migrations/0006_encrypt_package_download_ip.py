"""Whereabouts are sensitive under PP-01: encrypt the IP address of each access-package download.

The column becomes plain text (``inet`` on PostgreSQL holds no Fernet token), the existing addresses
are encrypted in resumable batches with a progress bar (``accounts.column_encryption``),
then the field becomes an ``EncryptedTextField`` (same text column). Not atomic: a killed run keeps
its finished batches and the rerun finishes.
"""

import django.core.validators
from django.db import migrations, models

import accounts.privacy.fields
from accounts.column_encryption import decrypt_columns, encrypt_columns, host

COLUMNS = ("ip_address",)
LABEL = "Access-package download IP addresses"


def encrypt_existing(apps, schema_editor):
    model = apps.get_model("requests_desk", "PackageDownload")
    encrypt_columns(model, schema_editor, COLUMNS, label=LABEL, normalise={"ip_address": host})


def decrypt_existing(apps, schema_editor):
    decrypt_columns(apps.get_model("requests_desk", "PackageDownload"), schema_editor, COLUMNS, label=LABEL)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("requests_desk", "0005_refusal_ground_records"),
    ]

    operations = [
        migrations.AlterField(
            model_name="packagedownload",
            name="ip_address",
            field=models.TextField(blank=True, null=True, verbose_name="IP address"),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.AlterField(
            model_name="packagedownload",
            name="ip_address",
            field=accounts.privacy.fields.EncryptedTextField(
                blank=True, null=True, validators=[django.core.validators.validate_ipv46_address],
                verbose_name="IP address",
            ),
        ),
    ]
