"""Re-sync roles now that the request desk's models exist (accounts.staff.roles)."""

from django.db import migrations

from accounts.staff.roles import sync_roles_migration


class Migration(migrations.Migration):
    dependencies = [("requests_desk", "0001_initial"), ("retention", "0002_roles")]

    operations = [migrations.RunPython(sync_roles_migration, migrations.RunPython.noop)]
