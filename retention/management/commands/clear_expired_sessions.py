from django.core.management.base import BaseCommand

from retention.jobs.sessions import clear_expired_sessions


class Command(BaseCommand):
    help = "Delete expired staff login sessions."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would be deleted; change nothing.")

    def handle(self, *args, dry_run: bool = False, **options):
        result = clear_expired_sessions(dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        count = result.selected if dry_run else result.changed
        self.stdout.write(f"Expired sessions: {result.selected} found, {verb} {count}.")
