"""An index on the admin log by object, for the erasure engine (PP-02).

The engine scrubs the ``LogEntry`` rows of every erased object (``content_type`` and
``object_id IN (…)`` per chunk). Django's own table has no index on ``object_id``, so at scale each
chunk would read the whole log. ``IF NOT EXISTS`` keeps it safe to rerun; the same SQL works on
PostgreSQL and SQLite.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("retention", "0002_roles"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS retention_logentry_object ON django_admin_log (content_type_id, object_id)",
            reverse_sql="DROP INDEX IF EXISTS retention_logentry_object",
        ),
    ]
