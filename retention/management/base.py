"""What every retention job command shares: ``--dry-run``, a progress bar, and a printed report."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils.translation import gettext

from accounts.progress import progress


class JobCommand(BaseCommand):
    """A thin command around one ``retention.jobs`` function (design decision 6)."""

    #: Label of the progress bar.
    unit = "members"

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help=gettext(
            "Report what would happen; change nothing."
        ))
        parser.add_argument("--no-progress", action="store_true", help=gettext("Do not draw a progress bar."))

    def bar(self, options, desc: str):
        return progress(total=None, desc=desc, unit=self.unit, enabled=not options.get("no_progress"),
                        stream=self.stderr)

    def report(self, title: str, result, *, dry_run: bool) -> None:
        prefix = gettext("DRY RUN (nothing changed) — ") if dry_run else ""
        self.stdout.write(f"{prefix}{title}")
        for key, value in result.as_dict().items():
            if key == "dry_run":
                continue
            if isinstance(value, dict):
                self.stdout.write(f"  {key}:")
                for inner, count in sorted(value.items()):
                    self.stdout.write(f"    {inner}: {count}")
                if not value:
                    self.stdout.write(gettext("    (none)"))
            else:
                self.stdout.write(f"  {key}: {value}")
