from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.progress import progress
from retention import records_io
from retention.models import ErasureRecord


class Command(BaseCommand):
    help = (
        _(
            "Copy erasure records out of the database or back in (PP-02), e.g. around a restore from backup: "
            "`erasure_records export FILE` before, `erasure_records import FILE` after, then `reapply_erasures`."
        )
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["export", "import"])
        parser.add_argument("file", type=Path, help=gettext("JSON-lines file (written by export, read by import)."))
        parser.add_argument("--dry-run", action="store_true", help=gettext(
            "import: report what would be added; add nothing."
        ))
        parser.add_argument("--no-progress", action="store_true", help=gettext("Do not draw a progress bar."))

    def handle(self, *args, action: str, file: Path, dry_run: bool = False, **options):
        enabled = not options["no_progress"]
        if action == "export":
            with progress(total=ErasureRecord.objects.count(), desc="export", unit="records", enabled=enabled,
                          stream=self.stderr) as bar:
                written = records_io.export_records(file, progress=bar.update)
            self.stdout.write(gettext(
                "%(written)s erasure record(s) written to %(file)s."
            ) % {"written": written, "file": file})
            return
        if not file.is_file():
            raise CommandError(gettext("%(file)s: no such file.") % {"file": file})
        try:
            with progress(total=None, desc="import", unit="records", enabled=enabled, stream=self.stderr) as bar:
                result = records_io.import_records(file, dry_run=dry_run, progress=bar.update)
        except ValidationError as exc:
            raise CommandError(gettext(
                "%(file)s: %(value)s Nothing was imported."
            ) % {"file": file, "value": '; '.join(exc.messages)}) from exc
        prefix = gettext("DRY RUN (nothing changed) — ") if dry_run else ""
        verb = gettext("would be added") if dry_run else gettext("added")
        self.stdout.write(gettext(
            "%(prefix)s%(read)s record(s) read, %(added)s %(verb)s, %(value)s already present."
        ) % {"prefix": prefix, "read": result.read, "added": result.added, "verb": verb,
             "value": result.read - result.added})
        if result.added and not dry_run:
            self.stdout.write(gettext("Now run `manage.py reapply_erasures` to erase again the members they match."))
