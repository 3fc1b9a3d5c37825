"""``manage.py seed_demo``: demo data for every app, idempotent, with progress bars.

Apps contribute steps through their ``demo.register(steps)``; each step is
``(label, expected_units, function(*, bar, **options) -> counts)``. A step receives the options
its signature names (``members``, ``seed``) or all of them if it takes ``**options``; a step whose
units depend on the options passes ``None`` and sets its bar's total itself.
"""

from __future__ import annotations

import inspect
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts.demo import DEFAULT_MEMBERS
from accounts.members.seeding.seed import DEFAULT_SEED
from accounts.progress import progress
from accounts.staff.demo_logins import DEMO_LOGINS, DEMO_PASSWORD


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


def _accepted(step, options: dict) -> dict:
    """The options ``step`` takes: steps written before an option existed keep working."""
    parameters = inspect.signature(step).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return options
    return {key: value for key, value in options.items() if key in parameters}


class Command(BaseCommand):
    help = "Load demo data (staff logins for each role, and each app's demo records). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="Do not draw progress bars.")
        parser.add_argument("--print-logins", action="store_true", help="Print the demo logins at the end.")
        parser.add_argument(
            "--members", type=int, default=DEFAULT_MEMBERS, metavar="N",
            help=f"Demo members to have (default {DEFAULT_MEMBERS}); existing ones are kept, not duplicated.",
        )
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, metavar="S",
            help=f"Random seed (default {DEFAULT_SEED}): the same seed gives the same members.",
        )

    def handle(self, *args, no_progress: bool = False, print_logins: bool = False, **options):
        if options.get("members", 0) < 0:
            raise CommandError(_("--members must be 0 or more."))
        step_options = {"members": options.get("members", DEFAULT_MEMBERS), "seed": options.get("seed", DEFAULT_SEED)}
        if not settings.DEMO_DATA_ALLOWED:
            raise CommandError(
                _("Demo data is refused here: DEMO_DATA_ALLOWED is off (it follows DEBUG). "
                  "Demo logins have a public password and must never reach production.")
            )
        for label, units, step in collect_steps():
            with progress(total=units, desc=_(label), enabled=not no_progress, stream=self.stderr) as bar:
                counts = step(bar=bar, **_accepted(step, step_options))
            # Steps name their counts in English (gettext_noop): shown in the active language.
            summary = ", ".join(f"{_(key)}: {value}" for key, value in counts.items())
            self.stdout.write(f"{_(label)}: {summary}")
        if print_logins:
            self.stdout.write("")
            self.stdout.write(_("Demo logins (password for all: %(password)s)") % {"password": DEMO_PASSWORD})
            for login in DEMO_LOGINS:
                role = _("superuser") if login.superuser else login.role
                self.stdout.write(f"  {role:<24} {login.email}")
