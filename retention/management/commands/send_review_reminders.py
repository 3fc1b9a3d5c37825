from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from retention.jobs.reviews import send_review_reminders
from retention.management.base import JobCommand


class Command(JobCommand):
    help = _("E-mail compliance one digest of processing reviews and impact assessments falling due (PP-27).")
    unit = "items"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--days", type=int, default=None, help=gettext(
            "Reminder window (default REVIEW_REMINDER_DAYS)."
        ))

    def handle(self, *args, dry_run: bool = False, days=None, **options):
        result = send_review_reminders(dry_run=dry_run, days=days)
        self.report(gettext("Reviews and assessments falling due"), result, dry_run=dry_run)
