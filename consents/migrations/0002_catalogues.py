"""The fixed legal-grounds catalogue, the first published policy version and the policy's purposes."""

from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    from consents.legal_grounds import CATALOGUE, INITIAL_POLICY_VERSION, POLICY_PURPOSES

    LegalGround = apps.get_model("consents", "LegalGround")
    PolicyVersion = apps.get_model("consents", "PolicyVersion")
    Purpose = apps.get_model("consents", "Purpose")
    for code, use, section, position, wording in CATALOGUE:
        LegalGround.objects.update_or_create(
            code=code, defaults={"use": use, "section": section, "position": position, "wording": wording}
        )
    version, _ = PolicyVersion.objects.get_or_create(
        version=INITIAL_POLICY_VERSION,
        defaults={
            "text": "The privacy policy as published at launch (shared/privacy-policy.txt).",
            "summary": "First published version.",
            "change_kinds": ["service_model"],
            "published_at": timezone.now(),
            "effective_at": timezone.now(),
        },
    )
    for code, name, kind, biometric, categories in POLICY_PURPOSES:
        Purpose.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": kind,
                "is_biometric": biometric,
                "data_categories": list(categories),
                "introduced_in": version,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("consents", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
