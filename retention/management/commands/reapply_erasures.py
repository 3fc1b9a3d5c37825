"""``manage.py reapply_erasures``: after a database restore, erase again whoever had been erased (PP-02).

A backup taken before an erasure brings the member back when restored. Erasure records keep a keyed
hash of each erased member number (never the number), so this command hashes every member number in
chunks, finds the ones that match a record and erases them again with the record's trigger. No new
erasure record is written: the first one stays the proof.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Member
from accounts.progress import progress
from retention.erasure import reapply


class Command(BaseCommand):
    help = _("Erase again the members a restored backup brought back (matched by erasure records' keyed hashes).")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help=gettext(
            "Report what would change; change nothing."
        ))
        parser.add_argument("--chunk-size", type=int, default=None, help=gettext("Members per erasure transaction."))
        parser.add_argument("--no-progress", action="store_true", help=gettext("Do not draw a progress bar."))

    def handle(self, *args, dry_run: bool = False, chunk_size=None, no_progress: bool = False, **options):
        if chunk_size is not None and chunk_size < 1:
            raise CommandError(gettext("--chunk-size must be at least 1."))
        total = Member.objects.count()
        with progress(total=total, desc="Matching erasure records", unit="member", enabled=not no_progress,
                      stream=self.stderr) as bar:
            report = reapply.reapply_erasures(dry_run=dry_run, chunk_size=chunk_size, progress=bar)
        result = report.engine
        verb = gettext("would be erased again") if dry_run else gettext("erased again")
        self.stdout.write(gettext(
            "%(scanned)s member(s) checked, %(matched)s match an erasure record."
        ) % {"scanned": report.scanned, "matched": report.matched})
        self.stdout.write(gettext("%(count)s member(s) %(verb)s.") % {"count": len(result.erased), "verb": verb})
        for label, n in sorted(result.counts.items()):
            self.stdout.write(gettext("  %(label)s: %(n)s row(s)") % {"label": label, "n": n})
        if result.held:
            self.stdout.write(gettext(
                "%(count)s held by a legal hold, not erased: %(value)s"
            ) % {"count": len(result.held), "value": ', '.join(result.held)})
        for number, error in sorted(result.failed.items()):
            self.stderr.write(gettext("FAILED %(number)s: %(error)s") % {"number": number, "error": error})
        if dry_run:
            self.stdout.write(gettext("Dry run: nothing was changed."))
        if result.failed:
            raise CommandError(gettext(
                "%(count)s member(s) could not be erased; rerun to retry them."
            ) % {"count": len(result.failed)})
