from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from retention.jobs.deidentified import export_deidentified
from retention.management.base import JobCommand


class Command(JobCommand):
    help = (
        _(
            "Write the de-identified research dataset (PP-18) as CSV: random keys, generalised dates, k-anonymous "
            "on age band, nationality and region."
        )
    )
    unit = "rows"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--path", default=None, help=gettext("Output file (default: MEDIA_ROOT/exports/…)."))
        parser.add_argument("--k", type=int, default=None, help=gettext(
            "Minimum group size (default DEIDENTIFIED_EXPORT_K)."
        ))

    def handle(self, *args, dry_run: bool = False, path=None, k=None, **options):
        result = export_deidentified(dry_run=dry_run, path=path, k=k)
        self.report(gettext("De-identified export"), result, dry_run=dry_run)
