"""``manage.py transaction_volume_check [--fix]``: recompute the daily volumes from the encrypted
orders and print the drift (0 expected; PP-10). A thin wrapper over ``accounts.members.volumes``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts.members import volumes
from accounts.progress import progress


class Command(BaseCommand):
    help = (
        "Recompute every member's daily transaction volume from the encrypted orders and compare it with "
        "the stored totals; --fix rewrites the members that drift. Exit status 1 on drift without --fix."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Rewrite the days of members that drift.")
        parser.add_argument(
            "--chunk-size", type=int, default=volumes.DEFAULT_CHUNK_SIZE, help="Members per read (default %(default)s)."
        )
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, fix: bool = False, chunk_size: int = 2000, no_progress: bool = False, **options):
        if chunk_size < 1:
            raise CommandError(_("--chunk-size must be at least 1."))
        total = volumes.members_to_check()
        with progress(total=total, desc=_("Checking volumes"), unit="member", enabled=not no_progress,
                      stream=self.stderr) as bar:
            report = volumes.volumes_check(fix=fix, chunk_size=chunk_size, on_progress=bar.update)
        self.stdout.write(report.line())
        if report.drift and not fix:
            raise CommandError(_("Drift on %(days)s days; run with --fix to rewrite them.") % {"days": report.drift})
