from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from retention.jobs.cancelled import anonymise_cancelled
from retention.management.base import JobCommand


class Command(JobCommand):
    help = _("Erase members whose cancellation is older than the grace period (PP-33); held members are skipped.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--chunk-size", type=int, default=None, help=gettext("Members per transaction."))

    def handle(self, *args, dry_run: bool = False, chunk_size=None, **options):
        with self.bar(options, "anonymise cancelled") as bar:
            result = anonymise_cancelled(dry_run=dry_run, chunk_size=chunk_size, bar=bar)
        self.report(gettext("Cancelled members past the grace period"), result, dry_run=dry_run)
