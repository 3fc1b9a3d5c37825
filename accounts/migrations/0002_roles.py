"""Create the four role groups with least-privilege permissions (accounts.staff.roles)."""

from django.db import migrations

from accounts.staff.roles import sync_roles_migration


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(sync_roles_migration, migrations.RunPython.noop)]
