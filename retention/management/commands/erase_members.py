"""``manage.py erase_members NUMBER …``: erase the given members now (PP-02, PP-29).

For an operator acting on a decided request (``--request`` names the ticket); the admin's four-eyes
"run erasure" action is the usual way. ``--dry-run`` runs every chunk and rolls it back, so it
reports exactly what would change and changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Member
from accounts.progress import chunked, progress
from retention.choices import ErasureTrigger
from retention.erasure import runner


class Command(BaseCommand):
    help = "Erase members by member number, as the data map says (held members are skipped and reported)."

    def add_arguments(self, parser):
        parser.add_argument("member_numbers", nargs="*", metavar="NUMBER", help="Member numbers to erase.")
        parser.add_argument("--from-file", type=Path, help="A file with one member number per line.")
        parser.add_argument("--trigger", choices=ErasureTrigger.values, default=ErasureTrigger.DELETION_REQUEST,
                            help="Why (default %(default)s); under_14 keeps nothing for legal retention.")
        parser.add_argument("--request", default="", help="Reference of the requesting ticket, if any.")
        parser.add_argument("--chunk-size", type=int, default=None, help="Members per transaction.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; change nothing.")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, member_numbers, from_file, trigger, request, chunk_size, dry_run, no_progress, **opts):
        numbers = [n.strip() for n in member_numbers if n.strip()]
        if from_file:
            try:
                numbers += [line.strip() for line in from_file.read_text().splitlines() if line.strip()]
            except OSError as exc:
                raise CommandError(f"Cannot read {from_file}: {exc.strerror}.") from exc
        if not numbers:
            raise CommandError("Give at least one member number (or --from-file).")
        if chunk_size is not None and chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        ids: dict[str, int] = {}
        for part in chunked(sorted(set(numbers)), 1000):
            ids.update(Member.objects.filter(member_number__in=part).values_list("member_number", "pk"))
        unknown = sorted(set(numbers) - set(ids))
        desc = "Erasure (dry run)" if dry_run else "Erasing"
        with progress(total=len(ids), desc=desc, unit="member", enabled=not no_progress, stream=self.stderr) as bar:
            result = runner.erase_members(member_ids=ids.values(), trigger=trigger, request_reference=request,
                                          chunk_size=chunk_size, dry_run=dry_run, progress=bar)
        verb = "would be erased" if dry_run else "erased"
        self.stdout.write(f"{len(result.erased)} member(s) {verb}.")
        for label, n in sorted(result.counts.items()):
            self.stdout.write(f"  {label}: {n} row(s)")
        if unknown:
            self.stdout.write(f"{len(unknown)} unknown member number(s): {', '.join(unknown[:20])}")
        if result.held:
            self.stdout.write(f"{len(result.held)} held by a legal hold, not erased: {', '.join(result.held)}")
        if result.skipped:
            self.stdout.write(f"{len(result.skipped)} skipped (already erased or busy in another run).")
        for number, error in sorted(result.failed.items()):
            self.stderr.write(f"FAILED {number}: {error}")
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
        if result.failed:
            raise CommandError(f"{len(result.failed)} member(s) could not be erased; rerun to retry them.")
