from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from retention.jobs.security_data import expire_security_data
from retention.management.base import JobCommand


class Command(JobCommand):
    help = _("Delete device and security records older than SECURITY_DATA_RETENTION_DAYS (PP-11).")
    unit = "records"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--chunk-size", type=int, default=5000, help=gettext("Records deleted per statement."))

    def handle(self, *args, dry_run: bool = False, chunk_size: int = 5000, **options):
        with self.bar(options, "expire security data") as bar:
            result = expire_security_data(dry_run=dry_run, chunk_size=chunk_size, bar=bar)
        self.report(gettext("Expired device and security records"), result, dry_run=dry_run)
