"""Records belong to a product line (PP-19): transaction and device records carry their line.

The schema step adds ``product_line`` (and a ``(product_line, member)`` index) to both models. The
data step assigns every row still without a line whose member uses exactly one line: one set-based
``UPDATE`` per model and range of ``CHUNK`` primary keys (SQLite and PostgreSQL alike). Rows of
members with several lines, or none, stay empty: ``manage.py product_line_attribution_report``
lists them per model and member number, and the step prints how many there are. The migration is
one transaction, and the data step touches only rows without a line: rerun after a crash, it
finishes.
"""

import sys

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, Max, Min, OuterRef, Subquery

CHUNK = 10_000
SCOPED = ("DeviceRecord", "TransactionRecord")


def assign_single_line(apps, schema_editor):
    through = apps.get_model("accounts", "Member").product_lines.through
    single = (through.objects.order_by().values("member_id").annotate(n=Count("id")).filter(n=1)
              .values("member_id"))
    line_of = Subquery(through.objects.filter(member_id=OuterRef("member_id")).values("productline_id")[:1])
    remaining = 0
    for name in SCOPED:
        model = apps.get_model("accounts", name)
        empty = model.objects.filter(product_line__isnull=True)
        bounds = empty.aggregate(low=Min("pk"), high=Max("pk"))
        if bounds["low"] is not None:
            for start in range(bounds["low"], bounds["high"] + 1, CHUNK):
                empty.filter(pk__gte=start, pk__lt=start + CHUNK, member_id__in=single).update(
                    product_line_id=line_of
                )
        remaining += empty.count()
    if remaining:
        sys.stdout.write(
            f"\n  {remaining} transaction/device record(s) have no product line (their member has several or "
            "none);\n  list them with: manage.py product_line_attribution_report\n"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0009_task_outbox_and_scheduled_runs'),
    ]

    operations = [
        migrations.AddField(
            model_name='devicerecord',
            name='product_line',
            field=models.ForeignKey(blank=True, help_text='The service this device was seen on (PP-19).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.productline', verbose_name='product line'),
        ),
        migrations.AddField(
            model_name='transactionrecord',
            name='product_line',
            field=models.ForeignKey(blank=True, help_text='The service this order was placed on (PP-19).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.productline', verbose_name='product line'),
        ),
        migrations.AddIndex(
            model_name='devicerecord',
            index=models.Index(fields=['product_line', 'member'], name='accounts_device_line_member'),
        ),
        migrations.AddIndex(
            model_name='transactionrecord',
            index=models.Index(fields=['product_line', 'member'], name='accounts_txn_line_member'),
        ),
        migrations.RunPython(assign_single_line, migrations.RunPython.noop),
    ]
