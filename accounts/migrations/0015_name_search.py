"""Find members, related persons and institutions by name (issue 16, requirement 6).

1. A ``name_search`` column on each (``accounts.members.names``: the legal and local names folded,
   CJK characters spaced), empty for now.
2. The existing rows are filled in batches by primary key, computed in Python (accents are
   stripped with Unicode's tables, which the database does not have). The migration is not atomic:
   a run killed half way keeps its finished batches and the rerun does the rest.
3. On PostgreSQL: the ``pg_trgm`` extension and a GIN trigram index on each column, which serves
   the admin's ``name_search LIKE '%…%'`` (built after the fill, which is faster than keeping it up
   to date row by row). The indexes are not in the models' state: SQLite has no GIN and searches
   with a plain ``LIKE``.
"""

from django.db import migrations

import accounts.members.names
from accounts.members.names import name_search_key

MODELS = ("member", "relatedperson", "institutionprofile")
BATCH = 5000


def _fill(apps, schema_editor):
    connection = schema_editor.connection
    for name in MODELS:
        model = apps.get_model("accounts", name)
        table = connection.ops.quote_name(model._meta.db_table)
        last = 0
        while True:
            rows = list(
                model._base_manager.filter(pk__gt=last).order_by("pk")
                .values_list("pk", "legal_name", "local_name")[:BATCH]
            )
            if not rows:
                break
            last = rows[-1][0]
            keys = [(pk, name_search_key(legal, local)) for pk, legal, local in rows]
            keys = [(pk, key) for pk, key in keys if key]
            if not keys:
                continue
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    cursor.execute(
                        f"UPDATE {table} AS t SET name_search = v.key "  # noqa: S608 (a table name of ours)
                        "FROM unnest(%s::bigint[], %s::text[]) AS v(id, key) WHERE t.id = v.id",
                        [[pk for pk, _ in keys], [key for _, key in keys]],
                    )
                else:
                    cursor.executemany(f"UPDATE {table} SET name_search = %s WHERE id = %s",  # noqa: S608
                                       [(key, pk) for pk, key in keys])


def _extension(apps, schema_editor):
    """pg_trgm on PostgreSQL. Django's TrigramExtension would query pg_extension when unapplied on SQLite;
    unapplying leaves the extension in place (other objects may use it)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")


def _indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in MODELS:
        table = apps.get_model("accounts", name)._meta.db_table
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {table}_name_trgm ON {table} USING gin (name_search gin_trgm_ops)"
        )


def _drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in MODELS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {apps.get_model('accounts', name)._meta.db_table}_name_trgm")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0014_member_language"),
    ]

    operations = [
        migrations.AddField(
            model_name="institutionprofile",
            name="name_search",
            field=accounts.members.names.NameSearchField(
                sources=("legal_name", "local_name"), verbose_name="names, for search"
            ),
        ),
        migrations.AddField(
            model_name="member",
            name="name_search",
            field=accounts.members.names.NameSearchField(
                sources=("legal_name", "local_name"), verbose_name="names, for search"
            ),
        ),
        migrations.AddField(
            model_name="relatedperson",
            name="name_search",
            field=accounts.members.names.NameSearchField(
                sources=("legal_name", "local_name"), verbose_name="names, for search"
            ),
        ),
        migrations.RunPython(_fill, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(_extension, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(_indexes, _drop_indexes, elidable=False),
    ]
