"""Funding sources are property information, sensitive under PP-01: encrypt them at rest.

The existing plaintext values (live and history rows) are encrypted first, while the column is still
a plain text field in the migration state; then the field becomes an ``EncryptedTextField`` (same
column type, no schema change). Values that already decrypt are left alone, so a rerun after a
partial failure is safe.
"""

from django.db import migrations

import accounts.privacy.fields

BATCH = 500


def encrypt_existing(apps, schema_editor):
    from accounts.privacy import crypto

    for name in ("InstitutionProfile", "HistoricalInstitutionProfile"):
        model = apps.get_model("accounts", name)
        pk = model._meta.pk.attname
        pending = []
        for row_pk, value in model.objects.exclude(funding_sources="").values_list(pk, "funding_sources").iterator():
            try:
                crypto.decrypt_str(value)
                continue  # already a token
            except (crypto.DecryptionError, UnicodeEncodeError):
                pass
            pending.append(model(**{pk: row_pk, "funding_sources": crypto.encrypt_str(value)}))
            if len(pending) >= BATCH:
                model.objects.bulk_update(pending, ["funding_sources"])
                pending = []
        if pending:
            model.objects.bulk_update(pending, ["funding_sources"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_member_number_prefix_index"),
    ]

    operations = [
        migrations.RunPython(encrypt_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="historicalinstitutionprofile",
            name="funding_sources",
            field=accounts.privacy.fields.EncryptedTextField(blank=True, verbose_name="funding sources"),
        ),
        migrations.AlterField(
            model_name="institutionprofile",
            name="funding_sources",
            field=accounts.privacy.fields.EncryptedTextField(blank=True, verbose_name="funding sources"),
        ),
    ]
