from django.core.management.base import BaseCommand
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from retention.jobs.sessions import clear_expired_sessions


class Command(BaseCommand):
    help = _("Delete expired staff login sessions.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help=gettext(
            "Report what would be deleted; change nothing."
        ))

    def handle(self, *args, dry_run: bool = False, **options):
        result = clear_expired_sessions(dry_run=dry_run)
        verb = gettext("would delete") if dry_run else gettext("deleted")
        count = result.selected if dry_run else result.changed
        self.stdout.write(gettext(
            "Expired sessions: %(selected)s found, %(verb)s %(count)s."
        ) % {"selected": result.selected, "verb": verb, "count": count})
