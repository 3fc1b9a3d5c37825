from django.core.management.base import BaseCommand

from retention.schedule import schedule_sync


class Command(BaseCommand):
    help = "Create the beat schedule's periodic tasks by name (idempotent; admin edits survive)."

    def handle(self, *args, **options):
        counts = schedule_sync()
        self.stdout.write(
            self.style.SUCCESS(f"Beat schedule: {counts['created']} created, {counts['kept']} already present.")
        )
