"""Demo data (issue 5, requirement 9): after seeding, every retention job has work; seeding is idempotent."""

import datetime

import pytest
from django.utils import timezone

from accounts.demo import seed_staff
from accounts.management.commands.seed_demo import collect_steps
from accounts.models import DeviceRecord, Member
from retention import demo
from retention.jobs.cancelled import anonymise_cancelled
from retention.jobs.reviews import send_review_reminders
from retention.jobs.security_data import expire_security_data
from retention.jobs.shutdown import shutdown_service
from retention.jobs.under_14 import purge_under_14, under_14_member_ids
from retention.models import ImpactAssessment, LegalHold, ProcessingReview
from tests.factories import MemberFactory
from tests.retention.snapshots import database_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    seed_staff()
    return demo.seed_retention()


def test_the_retention_step_is_part_of_seed_demo_after_the_accounts_steps():
    labels = [label for label, _units, _step in collect_steps()]
    assert "retention" in labels
    assert labels.index("retention") > labels.index("staff users")


def test_every_job_has_work_after_seeding(seeded):
    assert seeded["members created"] == len(demo.DEMO_MEMBERS)
    cancelled = anonymise_cancelled(dry_run=True)
    assert cancelled.selected == 4 and cancelled.details["erased"] == 3 and cancelled.details["held"] == 1
    assert purge_under_14(dry_run=True).selected >= 2
    # Ten old device records, two of them kept because their member is under legal hold.
    assert expire_security_data(dry_run=True).selected == 8
    assert send_review_reminders(dry_run=True).selected == 2
    shutdown = shutdown_service(product_line="launchpad", dry_run=True)
    assert (shutdown.selected, shutdown.details["members_unlinked"]) == (2, 1)


def test_the_accounts_seeders_children_are_used_when_there_are_some(db):
    seed_staff()
    seeder_child = MemberFactory(member_number="M000000013", date_of_birth=timezone.localdate() - datetime.timedelta(
        days=13 * 365))
    counts = demo.seed_retention()
    assert counts["members created"] == len(demo.DEMO_MEMBERS) - 2
    assert not Member.objects.filter(member_number__in=["R900000007", "R900000008"]).exists()
    assert seeder_child.pk in under_14_member_ids(today=timezone.localdate())


def test_seeding_twice_changes_nothing(seeded):
    before = database_snapshot()
    again = demo.seed_retention()
    assert again == {"members created": 0, "old device records": 0, "legal holds": 0, "reviews and assessments": 0}
    assert database_snapshot() == before
    assert LegalHold.objects.count() == 1
    assert ProcessingReview.objects.count() == 2 and ImpactAssessment.objects.count() == 1


def test_after_the_jobs_ran_seeding_again_gives_them_work_again(seeded):
    anonymise_cancelled()
    expire_security_data()
    assert anonymise_cancelled(dry_run=True).details["erased"] == 0
    demo.seed_retention()
    assert anonymise_cancelled(dry_run=True).details["erased"] == 3
    assert Member.objects.filter(member_number="R900000006").count() == 1  # the held member is kept, not doubled
    assert DeviceRecord.objects.filter(device_id__contains="-old-").count() == 10


def test_the_seed_demo_command_includes_retention(db, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.DEMO_DATA_ALLOWED = True
    out = StringIO()
    call_command("seed_demo", "--members", "0", "--no-progress", stdout=out)
    assert "retention: members created: 11" in out.getvalue()
