"""``manage.py verify_consents``: recompute consent states from the ledger and report drift.

The state table (``ConsentState``) is derived from the append-only ledger in the same transaction
as each event (design decision 3), so drift is expected to be 0. This command proves it.

- default: read-only report; exits with an error when any row drifts (so cron or CI notices);
- ``--fix``: rewrite drifting rows from the ledger (and delete states without any event);
- ``--dry-run``: never write, even with ``--fix`` (shows what ``--fix`` would change).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Member
from accounts.progress import progress
from consents.drift import consent_state_drift
from consents.models import Purpose

SHOWN_ROWS = 50


class Command(BaseCommand):
    help = _("Recompute every member's consent state from the ledger and report rows that differ (expected 0).")

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help=gettext(
            "Rewrite drifting state rows from the ledger."
        ))
        parser.add_argument(
            "--dry-run", action="store_true", help=gettext(
                "Write nothing, even with --fix (report what would change)."
            )
        )
        parser.add_argument("--chunk-size", type=int, default=2000, help=gettext(
            "Members per chunk (default 2000)."
        ))
        parser.add_argument("--no-progress", action="store_true", help=gettext("Do not draw a progress bar."))

    def handle(self, *args, fix=False, dry_run=False, chunk_size=2000, no_progress=False, **options):
        if chunk_size < 1:
            raise CommandError(gettext("--chunk-size must be a positive number of members."))
        total = Member.objects.count()
        with progress(total=total, desc="verify consents", unit="member", enabled=not no_progress,
                      stream=self.stderr) as bar:
            report = consent_state_drift(fix=fix, dry_run=dry_run, chunk_size=chunk_size, bar=bar)

        self.stdout.write(
            gettext(
                "Checked %(members)s members and %(pairs)s member-purpose pairs with events: %(drift_count)s "
                "drifting state row(s)."
            ) % {"members": report.members, "pairs": report.pairs, "drift_count": report.drift_count}
        )
        if report.drift:
            shown = report.drift[:SHOWN_ROWS]
            numbers = dict(Member.objects.filter(pk__in={r.member_id for r in shown})
                           .values_list("pk", "member_number"))
            codes = dict(Purpose.objects.values_list("pk", "code"))
            for row in shown:
                self.stdout.write(f"  {numbers.get(row.member_id, row.member_id)} {codes.get(row.purpose_id)}: "
                                  f"{row.problem}")
            if report.drift_count > SHOWN_ROWS:
                self.stdout.write(gettext("  … and %(value)s more") % {"value": report.drift_count - SHOWN_ROWS})
        if report.fixed:
            self.stdout.write(self.style.SUCCESS(gettext(
                "Fixed %(fixed)s state row(s) from the ledger."
            ) % {"fixed": report.fixed}))
            return
        if report.drift:
            if fix and dry_run:
                self.stdout.write(gettext(
                    "Dry run: --fix would rewrite %(drift_count)s row(s); nothing written."
                ) % {"drift_count": report.drift_count})
            raise CommandError(
                gettext(
                    "%(drift_count)s consent state row(s) differ from the ledger; run with --fix to rewrite them."
                ) % {"drift_count": report.drift_count}
            )
        self.stdout.write(self.style.SUCCESS(gettext("No drift: the state table matches the ledger.")))
