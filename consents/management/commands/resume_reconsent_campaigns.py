"""``manage.py resume_reconsent_campaigns``: re-queue re-consent notices that were never sent."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db.models import Count
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.progress import progress
from consents import campaigns
from consents.models import ReconsentNotice


class Command(BaseCommand):
    help = _("Queue the sending of re-consent notices still unsent an hour after they were queued (PP-39).")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help=gettext(
            "Count what would be queued; queue nothing."
        ))
        parser.add_argument("--no-progress", action="store_true", help=gettext("Do not draw a progress bar."))

    def handle(self, *args, dry_run: bool = False, no_progress: bool = False, **options):
        versions = (
            ReconsentNotice.objects.filter(notified_at__isnull=True, accepted_at__isnull=True)
            .order_by()
            .aggregate(n=Count("policy_version_id", distinct=True))["n"]
        )
        with progress(total=versions, desc="campaigns", unit="version", enabled=not no_progress,
                      stream=self.stderr) as bar:
            result = campaigns.campaigns_resume(dry_run=dry_run, bar=bar)
        summary = ", ".join(f"{key}: {value}" for key, value in result.as_dict().items())
        self.stdout.write(summary)
