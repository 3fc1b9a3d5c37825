from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from accounts.progress import progress
from requests_desk import reminders


class Command(BaseCommand):
    help = ("Send deadline reminders to assignees and escalate overdue requests to supervisors (PP-34): "
            "one digest per staff user, each reminder exactly once.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be sent; change nothing.")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, dry_run: bool = False, no_progress: bool = False, **options):
        with progress(total=reminders.phase_count(), desc="reminders", unit="phase", enabled=not no_progress,
                      stream=self.stderr) as bar:
            def step(phase: str) -> None:
                bar.set_postfix_str(phase)
                bar.update(1)

            result = reminders.send_request_reminders(dry_run=dry_run, step=step)
        prefix = _("DRY RUN (nothing changed) — ") if dry_run else ""
        self.stdout.write(prefix + _("Request deadline reminders"))
        for key, value in result.as_dict().items():
            if key == "dry_run":
                continue
            if isinstance(value, dict):
                value = ", ".join(f"{k}: {v}" for k, v in sorted(value.items()))
            self.stdout.write(f"  {key}: {value}")
