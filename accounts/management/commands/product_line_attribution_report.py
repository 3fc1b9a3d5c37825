"""``manage.py product_line_attribution_report``: the records still without a product line (PP-19)."""

import csv

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from accounts.members.selectors import rows_without_product_line

HEADER = ["model", "member_number", "product_lines_used", "rows_without_line"]


class Command(BaseCommand):
    help = (
        "List the transaction and device records that carry no product line (their member uses several "
        "lines or none), per model and member number, as CSV (PP-19). No personal values."
    )

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output", default="", help="Write the CSV to this file instead of the screen.")

    def handle(self, *args, output="", **options):
        rows = rows_without_product_line()
        if output:
            with open(output, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle, lineterminator="\n").writerows([HEADER, *rows])
        else:
            csv.writer(self.stdout, lineterminator="\n").writerows([HEADER, *rows])
        total = sum(row[-1] for row in rows)
        where = _("; written to %(path)s") % {"path": output} if output else ""
        self.stderr.write(_("%(total)s record(s) without a product line, for %(pairs)s model and member "
                            "pair(s)%(where)s.") % {"total": total, "pairs": len(rows), "where": where})
