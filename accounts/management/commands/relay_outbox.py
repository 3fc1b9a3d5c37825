"""``manage.py relay_outbox``: send the tasks that waited in the outbox while the broker was down."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from accounts.dispatch import outbox


class Command(BaseCommand):
    help = "Send the queued tasks that the broker could not take when they were decided (task outbox)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only say how many tasks are waiting.")

    def handle(self, *args, dry_run=False, **options):
        if dry_run:
            self.stdout.write(_("%(count)s task(s) waiting in the outbox.") % {"count": outbox.waiting_count()})
            return
        result = outbox.relay_pending()
        self.stdout.write(_("%(sent)s task(s) sent, %(waiting)s still waiting.")
                          % {"sent": result.sent, "waiting": result.waiting})
        if result.error:
            self.stderr.write(_("The broker did not take the rest: %(error)s. Run this again when it is back.")
                              % {"error": result.error})
