"""The consent ledger refuses UPDATE and DELETE at the database level on PostgreSQL (decision 3).

Only the erasure engine may remove a member's events: it sets ``privacy.erasure = 'on'`` with
``SET LOCAL`` inside its own transaction (PP-02). Also re-syncs the roles for the new models.
"""

from django.db import migrations

from accounts.staff.roles import sync_roles_migration

FUNCTION = """
CREATE OR REPLACE FUNCTION consents_event_append_only() RETURNS trigger AS $$
BEGIN
    IF current_setting('privacy.erasure', true) = 'on' THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'consent events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""
TRIGGER = """
CREATE TRIGGER consents_event_append_only
BEFORE UPDATE OR DELETE ON consents_consentevent
FOR EACH ROW EXECUTE FUNCTION consents_event_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS consents_event_append_only ON consents_consentevent;
DROP FUNCTION IF EXISTS consents_event_append_only();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite (the embedded default) relies on the ORM guard alone.
    schema_editor.execute(FUNCTION, params=None)  # no client-side %-formatting of the PL/pgSQL body
    schema_editor.execute(TRIGGER)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("consents", "0002_catalogues"), ("accounts", "0004_roles_members")]

    operations = [
        migrations.RunPython(install, uninstall),
        migrations.RunPython(sync_roles_migration, migrations.RunPython.noop),
    ]
