"""``manage.py seed_demo``: demo data for every app, idempotent, with progress bars.

Apps contribute steps through their ``demo.register(steps)``; each step is
``(label, expected_units, function(*, bar, **options) -> counts)``.
"""

from __future__ import annotations

from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.demo import DEMO_LOGINS, DEMO_PASSWORD
from accounts.progress import progress


def collect_steps() -> list:
    steps: list = []
    for app_config in apps.get_app_configs():
        try:
            module = import_module(f"{app_config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app_config.name}.demo":
                raise
            continue
        module.register(steps)
    return steps


class Command(BaseCommand):
    help = "Load demo data (staff logins for each role, and each app's demo records). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="Do not draw progress bars.")
        parser.add_argument("--print-logins", action="store_true", help="Print the demo logins at the end.")

    def handle(self, *args, no_progress: bool = False, print_logins: bool = False, **options):
        if not settings.DEMO_DATA_ALLOWED:
            raise CommandError(
                "Demo data is refused here: DEMO_DATA_ALLOWED is off (it follows DEBUG). "
                "Demo logins have a public password and must never reach production."
            )
        for label, units, step in collect_steps():
            with progress(total=units, desc=label, enabled=not no_progress, stream=self.stderr) as bar:
                counts = step(bar=bar)
            summary = ", ".join(f"{key}: {value}" for key, value in counts.items())
            self.stdout.write(f"{label}: {summary}")
        if print_logins:
            self.stdout.write("")
            self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD})")
            for login in DEMO_LOGINS:
                role = "superuser" if login.superuser else login.role
                self.stdout.write(f"  {role:<24} {login.email}")
