"""``manage.py erase_members NUMBER …``: erase the given members now (PP-02, PP-29).

For an operator acting on a decided request (``--request`` names the ticket); the admin's four-eyes
"run erasure" action is the usual way. ``--dry-run`` runs every chunk and rolls it back, so it
reports exactly what would change and changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Member
from accounts.progress import chunked, progress
from retention.choices import ErasureTrigger
from retention.erasure import runner


class Command(BaseCommand):
    help = _("Erase members by member number, as the data map says (held members are skipped and reported).")

    def add_arguments(self, parser):
        parser.add_argument("member_numbers", nargs="*", metavar="NUMBER", help=gettext("Member numbers to erase."))
        parser.add_argument("--from-file", type=Path, help=gettext("A file with one member number per line."))
        parser.add_argument("--trigger", choices=ErasureTrigger.values, default=ErasureTrigger.DELETION_REQUEST,
                            help=gettext("Why (default %(default)s); under_14 keeps nothing for legal retention."))
        parser.add_argument("--request", default="", help=gettext("Reference of the requesting ticket, if any."))
        parser.add_argument("--chunk-size", type=int, default=None, help=gettext("Members per transaction."))
        parser.add_argument("--dry-run", action="store_true", help=gettext(
            "Report what would change; change nothing."
        ))
        parser.add_argument("--no-progress", action="store_true", help=gettext("Do not draw a progress bar."))

    def handle(self, *args, member_numbers, from_file, trigger, request, chunk_size, dry_run, no_progress, **opts):
        numbers = [n.strip() for n in member_numbers if n.strip()]
        if from_file:
            try:
                numbers += [line.strip() for line in from_file.read_text().splitlines() if line.strip()]
            except OSError as exc:
                raise CommandError(gettext(
                    "Cannot read %(from_file)s: %(strerror)s."
                ) % {"from_file": from_file, "strerror": exc.strerror}) from exc
        if not numbers:
            raise CommandError(gettext("Give at least one member number (or --from-file)."))
        if chunk_size is not None and chunk_size < 1:
            raise CommandError(gettext("--chunk-size must be at least 1."))
        ids: dict[str, int] = {}
        for part in chunked(sorted(set(numbers)), 1000):
            ids.update(Member.objects.filter(member_number__in=part).values_list("member_number", "pk"))
        unknown = sorted(set(numbers) - set(ids))
        desc = gettext("Erasure (dry run)") if dry_run else gettext("Erasing")
        with progress(total=len(ids), desc=desc, unit="member", enabled=not no_progress, stream=self.stderr) as bar:
            result = runner.erase_members(member_ids=ids.values(), trigger=trigger, request_reference=request,
                                          chunk_size=chunk_size, dry_run=dry_run, progress=bar)
        verb = gettext("would be erased") if dry_run else gettext("erased")
        self.stdout.write(gettext("%(count)s member(s) %(verb)s.") % {"count": len(result.erased), "verb": verb})
        for label, n in sorted(result.counts.items()):
            self.stdout.write(gettext("  %(label)s: %(n)s row(s)") % {"label": label, "n": n})
        if unknown:
            self.stdout.write(gettext(
                "%(count)s unknown member number(s): %(value)s"
            ) % {"count": len(unknown), "value": ', '.join(unknown[:20])})
        if result.held:
            self.stdout.write(gettext(
                "%(count)s held by a legal hold, not erased: %(value)s"
            ) % {"count": len(result.held), "value": ', '.join(result.held)})
        if result.skipped:
            self.stdout.write(gettext(
                "%(count)s skipped (already erased or busy in another run)."
            ) % {"count": len(result.skipped)})
        for number, error in sorted(result.failed.items()):
            self.stderr.write(gettext("FAILED %(number)s: %(error)s") % {"number": number, "error": error})
        if dry_run:
            self.stdout.write(gettext("Dry run: nothing was changed."))
        if result.failed:
            raise CommandError(gettext(
                "%(count)s member(s) could not be erased; rerun to retry them."
            ) % {"count": len(result.failed)})
