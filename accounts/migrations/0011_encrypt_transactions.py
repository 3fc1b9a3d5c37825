"""Transaction information is sensitive (PP-01, PP-13): encrypt the order details at rest.

Order number, counterparty nickname, asset type, quantity and amount become encrypted text; the
order number gets a unique blind index (exact look-up, the import's key); the per-member daily
volumes (``MemberDailyVolume``) carry the plain sums the PP-10 threshold needs. Transaction records
have no history table (never edited), so the live table is the only one to convert.

Resumable on SQLite and PostgreSQL (the migration is not atomic; every step can run again):

1. the blind-index column and the volume table are created when missing (checked against the
   database, so a rerun skips them);
2. the five columns become plain ``text`` (an ``ALTER COLUMN ... TYPE text`` on PostgreSQL, a table
   rebuild on SQLite; running it again on a text column changes nothing), the unique constraint of
   the order number goes (the blind index takes it over);
3. the rows are encrypted in chunks of ``BATCH``, each chunk its own transaction, with a progress
   bar: a row is done when its blind index is set, which the same ``UPDATE`` writes, so a rerun
   after a crash starts at the first row not done and never encrypts twice;
4. the volumes are recomputed from the encrypted rows in one transaction (delete and insert);
5. the fields become the encrypted types (no schema change: text stays text).
"""

import datetime
from collections import defaultdict
from decimal import Decimal

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models, transaction

import accounts.privacy.fields

BATCH = 1000
TEXT_COLUMNS = ("order_number", "counterparty_nickname", "asset_type", "quantity", "amount")
ASSET_CHOICES = [("BTC", "BTC"), ("ETH", "ETH"), ("USDT", "USDT"), ("SOL", "SOL"), ("XRP", "XRP"), ("OTHER", "Other")]
PLACES = {"quantity": 10, "amount": 2}


def _columns(schema_editor, table: str) -> set[str]:
    with schema_editor.connection.cursor() as cursor:
        return {c.name for c in schema_editor.connection.introspection.get_table_description(cursor, table)}


def create_missing(apps, schema_editor):
    """The blind-index column and the volume table, unless a previous run made them."""
    record = apps.get_model("accounts", "TransactionRecord")
    volume = apps.get_model("accounts", "MemberDailyVolume")
    if "order_number_bidx" not in _columns(schema_editor, record._meta.db_table):
        schema_editor.add_field(record, record._meta.get_field("order_number_bidx"))
    if volume._meta.db_table not in schema_editor.connection.introspection.table_names():
        schema_editor.create_model(volume)


def _plain_text(name: str, value) -> str:
    if name in PLACES and value not in (None, ""):
        # SQLite may have kept a decimal as a number: one canonical text per value.
        return str(Decimal(str(value)).quantize(Decimal(1).scaleb(-PLACES[name])))
    return "" if value is None else str(value)


def encrypt_rows(apps, schema_editor):
    """Encrypt the rows whose blind index is not set yet, a chunk per transaction (resumable)."""
    from accounts.privacy import crypto
    from accounts.progress import progress

    record = apps.get_model("accounts", "TransactionRecord")
    pending = record.objects.filter(order_number_bidx__isnull=True)
    total = pending.count()
    with progress(total=total, desc="Encrypting transaction records", unit="row", enabled=total > 0) as bar:
        last_pk = 0
        while True:
            with transaction.atomic():
                rows = list(
                    pending.filter(pk__gt=last_pk).order_by("pk").values_list("pk", *TEXT_COLUMNS)[:BATCH]
                )
                if not rows:
                    break
                objs = []
                for pk, *values in rows:
                    obj = record(pk=pk)
                    plain = dict(zip(TEXT_COLUMNS, values, strict=True))
                    for name, value in plain.items():
                        text = _plain_text(name, value)
                        setattr(obj, name, crypto.encrypt_str(text) if text else "")
                    obj.order_number_bidx = crypto.blind_index("order", _plain_text("order_number", plain["order_number"]))
                    objs.append(obj)
                record.objects.bulk_update(objs, [*TEXT_COLUMNS, "order_number_bidx"])
                last_pk = rows[-1][0]
            bar.update(len(rows))


def recompute_volumes(apps, schema_editor):
    """Every member's daily volumes from the encrypted rows (UTC days), in one transaction."""
    from accounts.privacy import crypto

    record = apps.get_model("accounts", "TransactionRecord")
    volume = apps.get_model("accounts", "MemberDailyVolume")
    with transaction.atomic():
        volume.objects.all().delete()
        totals = defaultdict(lambda: [0, Decimal("0")])
        rows = record.objects.order_by().values_list("member_id", "order_time", "amount")
        for member_id, order_time, token in rows.iterator(chunk_size=BATCH):
            if order_time.tzinfo is not None:
                order_time = order_time.astimezone(datetime.UTC)
            entry = totals[(member_id, order_time.date())]
            entry[0] += 1
            entry[1] += Decimal(crypto.decrypt_str(token)) if token else Decimal("0")
        volume.objects.bulk_create(
            [volume(member_id=m, day=d, orders=o, amount=a) for (m, d), (o, a) in sorted(totals.items())],
            batch_size=BATCH,
        )


class Migration(migrations.Migration):
    atomic = False  # each chunk commits on its own: a crashed run keeps what it did

    dependencies = [
        ("accounts", "0010_product_line_attribution"),
    ]

    operations = [
        # 1. The blind index and the volume table: declared, then created only when missing (first, so
        #    that SQLite's table rebuilds below, which copy the declared columns, keep the index).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="transactionrecord",
                    name="order_number_bidx",
                    field=accounts.privacy.fields.BlindIndexField(
                        db_index=False, kind="order", source="order_number", unique=True
                    ),
                ),
                migrations.CreateModel(
                    name="MemberDailyVolume",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("day", models.DateField(verbose_name="day")),
                        ("orders", models.PositiveIntegerField(default=0, verbose_name="orders")),
                        ("amount", models.DecimalField(decimal_places=2, default=0, max_digits=24,
                                                       verbose_name="amount (USD)")),
                        ("member", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                     related_name="daily_volumes", to="accounts.member")),
                    ],
                    options={
                        "verbose_name": "member daily volume",
                        "verbose_name_plural": "member daily volumes",
                        "ordering": ["member", "day"],
                        "indexes": [models.Index(fields=["day", "member"], name="accounts_volume_day_member")],
                        "constraints": [
                            models.UniqueConstraint(fields=("member", "day"), name="accounts_volume_member_day")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(create_missing, migrations.RunPython.noop),
        # 2. Plain text columns, no unique order number (idempotent).
        migrations.AlterField(
            model_name="transactionrecord", name="order_number", field=models.TextField(verbose_name="order number"),
        ),
        migrations.AlterField(
            model_name="transactionrecord", name="counterparty_nickname",
            field=models.TextField(blank=True, verbose_name="counterparty nickname"),
        ),
        migrations.AlterField(
            model_name="transactionrecord", name="asset_type", field=models.TextField(verbose_name="asset type"),
        ),
        migrations.AlterField(
            model_name="transactionrecord", name="quantity", field=models.TextField(verbose_name="quantity"),
        ),
        migrations.AlterField(
            model_name="transactionrecord", name="amount", field=models.TextField(verbose_name="amount (USD)"),
        ),
        # 3. Encrypt, a chunk per transaction; 4. the volumes from the encrypted rows.
        migrations.RunPython(encrypt_rows, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(recompute_volumes, migrations.RunPython.noop),
        # 5. The encrypted field types (text stays text).
        migrations.AlterField(
            model_name="transactionrecord",
            name="amount",
            field=accounts.privacy.fields.EncryptedDecimalField(
                decimal_places=2, max_digits=20, verbose_name="amount (USD)"
            ),
        ),
        migrations.AlterField(
            model_name="transactionrecord",
            name="asset_type",
            field=accounts.privacy.fields.EncryptedTextField(choices=ASSET_CHOICES, verbose_name="asset type"),
        ),
        migrations.AlterField(
            model_name="transactionrecord",
            name="counterparty_nickname",
            field=accounts.privacy.fields.EncryptedTextField(
                blank=True, validators=[django.core.validators.MaxLengthValidator(100)],
                verbose_name="counterparty nickname",
            ),
        ),
        migrations.AlterField(
            model_name="transactionrecord",
            name="order_number",
            field=accounts.privacy.fields.EncryptedTextField(
                validators=[django.core.validators.MaxLengthValidator(40)], verbose_name="order number"
            ),
        ),
        migrations.AlterField(
            model_name="transactionrecord",
            name="quantity",
            field=accounts.privacy.fields.EncryptedDecimalField(
                decimal_places=10, max_digits=28, verbose_name="quantity"
            ),
        ),
    ]
