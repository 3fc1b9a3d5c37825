"""``manage.py rotate_keys``: re-encrypt every encrypted column and file under the primary key (PP-26).

Put the new key first in ``FIELD_ENCRYPTION_KEYS`` (``new,old``), deploy, run this, then drop the
old key. Safe to interrupt and run again: what is already under the new key is skipped.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts.privacy import rotation
from accounts.progress import progress


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column (live and history tables) and every encrypted file under "
        "the first key of FIELD_ENCRYPTION_KEYS. Chunked, resumable, with --dry-run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-encrypted; change nothing.")
        parser.add_argument(
            "--chunk-size", type=int, default=rotation.DEFAULT_CHUNK_SIZE,
            help="Rows per transaction (default %(default)s).",
        )
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, dry_run: bool = False, chunk_size: int = 500, no_progress: bool = False, **options):
        if chunk_size < 1:
            raise CommandError(_("--chunk-size must be at least 1."))
        total = rotation.rows_to_scan()
        desc = _("Checking keys (dry run)") if dry_run else _("Rotating keys")
        try:
            with progress(total=total, desc=desc, unit="row", enabled=not no_progress, stream=self.stderr) as bar:
                report = rotation.rotate_keys(chunk_size=chunk_size, dry_run=dry_run, on_progress=bar.update)
        except rotation.RotationError as exc:
            raise CommandError(_("%(error)s. Chunks before this one are done; rerun after fixing the keys.")
                               % {"error": exc}) from exc
        for table in report.tables:
            self.stdout.write(table.line(dry_run=dry_run))
        if dry_run:
            self.stdout.write(_("Dry run: %(count)s values would be re-encrypted; nothing was changed.")
                              % {"count": report.rotated})
        else:
            self.stdout.write(self.style.SUCCESS(_("Done: %(count)s values re-encrypted.") % {"count": report.rotated}))
