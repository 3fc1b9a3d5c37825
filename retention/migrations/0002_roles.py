"""Re-sync roles now that retention's models exist (accounts.staff.roles)."""

from django.db import migrations

from accounts.staff.roles import sync_roles_migration


class Migration(migrations.Migration):
    dependencies = [("retention", "0001_initial"), ("consents", "0003_append_only_and_roles")]

    operations = [migrations.RunPython(sync_roles_migration, migrations.RunPython.noop)]
