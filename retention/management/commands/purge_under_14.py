from django.core.management.base import CommandError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Member
from retention.jobs.under_14 import purge_under_14
from retention.management.base import JobCommand


class Command(JobCommand):
    help = (
        _(
            "Close and fully erase members under 14 by date of birth or a confirmed underage report (PP-37); legal "
            "holds still apply."
        )
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--member", action="append", default=[], metavar="MEMBER_NUMBER",
            help=gettext("Also purge this member (confirmed under 14 by other means); repeatable."),
        )
        parser.add_argument("--chunk-size", type=int, default=None, help=gettext("Members per transaction."))

    def handle(self, *args, dry_run: bool = False, member=(), chunk_size=None, **options):
        numbers = set(member)
        ids = dict(Member.objects.filter(member_number__in=numbers).values_list("member_number", "pk"))
        unknown = sorted(numbers - set(ids))
        if unknown:
            raise CommandError(gettext("Unknown member number(s): %(value)s") % {"value": ', '.join(unknown)})
        with self.bar(options, "purge under 14") as bar:
            result = purge_under_14(dry_run=dry_run, extra_member_ids=ids.values(), chunk_size=chunk_size, bar=bar)
        self.report(gettext("Members under 14"), result, dry_run=dry_run)
