from django.core.management.base import BaseCommand
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from retention.schedule import schedule_sync


class Command(BaseCommand):
    help = _("Create the beat schedule's periodic tasks by name (idempotent; admin edits survive).")

    def handle(self, *args, **options):
        counts = schedule_sync()
        self.stdout.write(
            self.style.SUCCESS(gettext(
                "Beat schedule: %(counts)s created, %(counts2)s already present."
            ) % {"counts": counts['created'], "counts2": counts['kept']})
        )
