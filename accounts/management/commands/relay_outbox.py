"""``manage.py relay_outbox``: send the tasks that waited in the outbox while the broker was down."""

from django.core.management.base import BaseCommand

from accounts.dispatch import outbox


class Command(BaseCommand):
    help = "Send the queued tasks that the broker could not take when they were decided (task outbox)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only say how many tasks are waiting.")

    def handle(self, *args, dry_run=False, **options):
        if dry_run:
            self.stdout.write(f"{outbox.waiting_count()} task(s) waiting in the outbox.")
            return
        result = outbox.relay_pending()
        self.stdout.write(f"{result.sent} task(s) sent, {result.waiting} still waiting.")
        if result.error:
            self.stderr.write(f"The broker did not take the rest: {result.error}. Run this again when it is back.")
