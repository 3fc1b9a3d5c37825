"""Re-sync roles now that members and their records exist (accounts.staff.roles)."""

from django.db import migrations

from accounts.staff.roles import sync_roles_migration


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_member_productline_historicalmember_and_more")]

    operations = [migrations.RunPython(sync_roles_migration, migrations.RunPython.noop)]
