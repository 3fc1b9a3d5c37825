from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.progress import progress
from retention import records_io
from retention.models import ErasureRecord


class Command(BaseCommand):
    help = (
        "Copy erasure records out of the database or back in (PP-02), e.g. around a restore from backup: "
        "`erasure_records export FILE` before, `erasure_records import FILE` after, then `reapply_erasures`."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["export", "import"])
        parser.add_argument("file", type=Path, help="JSON-lines file (written by export, read by import).")
        parser.add_argument("--dry-run", action="store_true", help="import: report what would be added; add nothing.")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, action: str, file: Path, dry_run: bool = False, **options):
        enabled = not options["no_progress"]
        if action == "export":
            with progress(total=ErasureRecord.objects.count(), desc="export", unit="records", enabled=enabled,
                          stream=self.stderr) as bar:
                written = records_io.export_records(file, progress=bar.update)
            self.stdout.write(f"{written} erasure record(s) written to {file}.")
            return
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        try:
            with progress(total=None, desc="import", unit="records", enabled=enabled, stream=self.stderr) as bar:
                result = records_io.import_records(file, dry_run=dry_run, progress=bar.update)
        except ValidationError as exc:
            raise CommandError(f"{file}: {'; '.join(exc.messages)} Nothing was imported.") from exc
        prefix = "DRY RUN (nothing changed) — " if dry_run else ""
        verb = "would be added" if dry_run else "added"
        self.stdout.write(f"{prefix}{result.read} record(s) read, {result.added} {verb}, "
                          f"{result.read - result.added} already present.")
        if result.added and not dry_run:
            self.stdout.write("Now run `manage.py reapply_erasures` to erase again the members they match.")
