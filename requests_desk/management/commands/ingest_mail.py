from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts.progress import progress
from requests_desk.mail.directory import mail_directory_ingest


class Command(BaseCommand):
    help = ("Read .eml files from DIR: thread each onto its request by the reference in the subject, or open "
            "a new enquiry; idempotent by Message-ID; unreadable files go to DIR/quarantine/ with a reason. "
            "The scheduled job (requests_desk.ingest_mail) does the same on INBOUND_MAIL_DIR with "
            "--remove-processed.")

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)
        parser.add_argument("--acknowledge", action="store_true",
                            help="Send the acknowledgement letter for each new request.")
        parser.add_argument("--remove-processed", action="store_true",
                            help="Delete each file once its message is kept (encrypted) on its request.")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, directory: Path, acknowledge: bool = False, remove_processed: bool = False,
               no_progress: bool = False, **options):
        if not directory.is_dir():
            raise CommandError(_("%(path)s is not a directory.") % {"path": directory})
        total = sum(1 for p in directory.iterdir() if p.is_file() and p.suffix.lower() == ".eml")
        with progress(total=total, desc="e-mails", unit="file", enabled=not no_progress,
                      stream=self.stderr) as bar:
            try:
                report = mail_directory_ingest(directory, acknowledge=acknowledge,
                                               remove_processed=remove_processed,
                                               on_file=lambda: bar.update(1))
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
        if report.busy:
            self.stdout.write(_("Another ingest run is reading this directory: nothing done."))
            return
        self.stdout.write(_("Read %(count)s file(s)") % {"count": report.files})
        for action in ("created", "threaded", "duplicate", "quarantined"):
            self.stdout.write(f"  {action}: {report.counts.get(action, 0)}")
        if remove_processed:
            self.stdout.write(f"  removed: {report.removed}")
        for name, reason in report.quarantined:
            self.stdout.write("  " + _("quarantined %(name)s: %(reason)s") % {"name": name, "reason": reason})
