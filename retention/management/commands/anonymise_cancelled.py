from retention.jobs.cancelled import anonymise_cancelled
from retention.management.base import JobCommand


class Command(JobCommand):
    help = "Erase members whose cancellation is older than the grace period (PP-33); held members are skipped."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--chunk-size", type=int, default=None, help="Members per transaction.")

    def handle(self, *args, dry_run: bool = False, chunk_size=None, **options):
        with self.bar(options, "anonymise cancelled") as bar:
            result = anonymise_cancelled(dry_run=dry_run, chunk_size=chunk_size, bar=bar)
        self.report("Cancelled members past the grace period", result, dry_run=dry_run)
