from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from retention.jobs.legal_retention import expire_legal_retention
from retention.management.base import JobCommand


class Command(JobCommand):
    help = (
        _("Anonymise what erased members kept for legal retention once the retention period has passed (PP-13).")
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--chunk-size", type=int, default=None, help=gettext("Members per transaction."))

    def handle(self, *args, dry_run: bool = False, chunk_size=None, **options):
        with self.bar(options, "expire legal retention") as bar:
            result = expire_legal_retention(dry_run=dry_run, chunk_size=chunk_size, bar=bar)
        self.report(gettext("Erased members past their legal retention"), result, dry_run=dry_run)
