"""``manage.py datamap_export --format fides|csv [-o FILE]``: the data map as a file (issue 14, req. 5).

``fides`` writes a Fides dataset (YAML) whose data categories are keys of the Fides default taxonomy;
``csv`` the DPO's spreadsheet view of the same map. Schema only: no stored value is read. A thin
wrapper over ``accounts.privacy.datamap_export.export``.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts.privacy.datamap_export import FORMATS, export, export_file


class Command(BaseCommand):
    help = "Write the data map as a Fides dataset (YAML) or as CSV; to stdout without -o."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=FORMATS, default="fides", dest="fmt",
                            help="fides: a Fides dataset manifest (YAML); csv: one row per column.")
        parser.add_argument("-o", "--output", help="The file to write (replaced if it exists).")

    def handle(self, *args, fmt: str, output: str | None = None, **options):
        if not output:
            self.stdout.write(export(fmt), ending="")
            return
        path = Path(output)
        if not path.parent.is_dir():
            raise CommandError(_("-o %(output)s: the folder %(folder)s does not exist; nothing was written.")
                               % {"output": output, "folder": path.parent})
        path.write_bytes(export_file(fmt))  # CSV with a BOM: Excel reads it as UTF-8 (issue 16)
        self.stderr.write(_("Wrote the data map (%(format)s) to %(path)s.") % {"format": fmt, "path": path})
