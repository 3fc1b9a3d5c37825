"""Issue 4, requirement 3: policy versions, publishing, and who has accepted what (PP-39, PP-40)."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.members.choices import MemberStatus
from consents.campaigns import (
    member_has_accepted,
    policy_version_publish,
    reconsent_notice_accept,
    reconsent_notice_seen,
)
from consents.choices import ChangeKind
from consents.models import PolicyVersion, ReconsentNotice
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def draft(version="2025.1", kinds=(ChangeKind.MINOR,), **kwargs) -> PolicyVersion:
    return PolicyVersion.objects.create(
        version=version, text="The policy, revised.", summary="What changed.", change_kinds=list(kinds), **kwargs
    )


def test_pp39_is_major_is_derived_from_the_change_kinds():
    assert not draft("a", [ChangeKind.MINOR]).is_major
    assert draft("b", [ChangeKind.CONTACT]).is_major
    assert draft("c", [ChangeKind.RECIPIENTS, ChangeKind.HIGH_RISK]).is_major


def test_pp40_a_version_that_narrows_a_right_is_major():
    assert draft("n", [ChangeKind.NARROWS_RIGHT]).is_major


def test_pp39_publishing_sets_published_effective_and_publisher(compliance_officer):
    version = draft()
    before = timezone.now()
    result = policy_version_publish(version=version, user=compliance_officer)
    version.refresh_from_db()
    assert version.published_at >= before
    assert version.effective_at == version.published_at
    assert version.published_by == compliance_officer
    assert result.version.pk == version.pk
    # The history row names who published it (design decision 7).
    assert version.history.first().history_user == compliance_officer


def test_pp39_a_planned_effective_date_is_kept(compliance_officer):
    later = timezone.now() + datetime.timedelta(days=30)
    version = draft(effective_at=later)
    policy_version_publish(version=version, user=compliance_officer)
    version.refresh_from_db()
    assert version.effective_at == later


def test_pp39_an_effective_date_in_the_past_is_refused(compliance_officer):
    version = draft(effective_at=timezone.now() - datetime.timedelta(days=1))
    with pytest.raises(ValidationError) as exc:
        policy_version_publish(version=version, user=compliance_officer)
    assert "effective_at" in exc.value.message_dict
    version.refresh_from_db()
    assert version.published_at is None


def test_pp39_republishing_is_refused_and_changes_nothing(
    compliance_officer, supervisor, django_capture_on_commit_callbacks
):
    MemberFactory.create_batch(3)
    version = draft(kinds=[ChangeKind.RIGHTS])
    with django_capture_on_commit_callbacks():
        policy_version_publish(version=version, user=compliance_officer)
    version.refresh_from_db()
    first_published = version.published_at

    with pytest.raises(ValidationError, match="already published"):
        policy_version_publish(version=version, user=supervisor)

    version.refresh_from_db()
    assert version.published_at == first_published
    assert version.published_by == compliance_officer
    assert ReconsentNotice.objects.filter(policy_version=version).count() == 3


def test_pp39_a_stale_copy_cannot_publish_twice(compliance_officer, supervisor):
    """The lock re-reads the row: a second officer holding an old, unpublished copy is refused."""
    version = draft()
    stale_copy = PolicyVersion.objects.get(pk=version.pk)
    policy_version_publish(version=version, user=compliance_officer)
    assert stale_copy.published_at is None
    with pytest.raises(ValidationError, match="already published"):
        policy_version_publish(version=stale_copy, user=supervisor)


def test_pp39_a_version_without_change_kinds_is_refused(compliance_officer):
    version = draft(kinds=[])
    with pytest.raises(ValidationError) as exc:
        policy_version_publish(version=version, user=compliance_officer)
    assert "change_kinds" in exc.value.message_dict


def test_pp39_minor_and_major_together_is_refused(compliance_officer):
    version = draft(kinds=[ChangeKind.MINOR, ChangeKind.CONTACT])
    with pytest.raises(ValidationError, match="both minor and major"):
        policy_version_publish(version=version, user=compliance_officer)


def test_publishing_needs_the_publish_permission(agent, auditor):
    version = draft()
    for user in (agent, auditor):
        with pytest.raises(PermissionDenied):
            policy_version_publish(version=version, user=user)
    version.refresh_from_db()
    assert version.published_at is None


def test_pp39_minor_version_starts_no_campaign(compliance_officer, django_capture_on_commit_callbacks):
    MemberFactory.create_batch(3)
    version = draft(kinds=[ChangeKind.MINOR])
    with django_capture_on_commit_callbacks() as callbacks:
        result = policy_version_publish(version=version, user=compliance_officer)
    assert result.notices_queued == 0
    assert callbacks == []
    assert not ReconsentNotice.objects.exists()


def test_pp39_major_version_queues_a_notice_for_every_active_member(
    compliance_officer, django_capture_on_commit_callbacks
):
    active = MemberFactory.create_batch(4)
    MemberFactory(status=MemberStatus.CANCELLED)
    MemberFactory(status=MemberStatus.SUSPENDED)
    version = draft(kinds=[ChangeKind.SERVICE_MODEL])
    with django_capture_on_commit_callbacks() as callbacks:
        result = policy_version_publish(version=version, user=compliance_officer)
    assert result.notices_queued == 4
    assert len(callbacks) == 1  # the sending is queued after commit, once
    assert set(ReconsentNotice.objects.values_list("member_id", flat=True)) == {m.pk for m in active}
    assert not ReconsentNotice.objects.filter(notified_at__isnull=False).exists()


def test_pp39_minor_version_is_accepted_by_continued_use_once_effective(compliance_officer):
    member = MemberFactory(registered_at=timezone.now() - datetime.timedelta(days=400))
    effective = timezone.now() + datetime.timedelta(days=10)
    version = draft(kinds=[ChangeKind.MINOR], effective_at=effective)
    assert not member_has_accepted(member, version)  # not published yet
    policy_version_publish(version=version, user=compliance_officer)
    assert not member_has_accepted(member, version, at=effective - datetime.timedelta(seconds=1))
    assert member_has_accepted(member, version, at=effective)


def test_pp40_major_version_needs_explicit_acceptance(compliance_officer, django_capture_on_commit_callbacks):
    member = MemberFactory(registered_at=timezone.now() - datetime.timedelta(days=400))
    version = draft(kinds=[ChangeKind.NARROWS_RIGHT])
    with django_capture_on_commit_callbacks():
        policy_version_publish(version=version, user=compliance_officer)
    version.refresh_from_db()
    later = timezone.now() + datetime.timedelta(days=90)
    # Continued use is not acceptance of a version that narrows a right.
    assert not member_has_accepted(member, version, at=later)

    assert reconsent_notice_seen(version=version, member=member) is True
    assert not member_has_accepted(member, version, at=later)

    assert reconsent_notice_accept(version=version, member=member) is True
    assert member_has_accepted(member, version, at=later)
    notice = ReconsentNotice.objects.get(policy_version=version, member=member)
    assert notice.seen_at is not None and notice.accepted_at is not None


def test_pp40_accepting_twice_records_the_first_acceptance(compliance_officer, django_capture_on_commit_callbacks):
    member = MemberFactory(registered_at=timezone.now() - datetime.timedelta(days=400))
    version = draft(kinds=[ChangeKind.RIGHTS])
    with django_capture_on_commit_callbacks():
        policy_version_publish(version=version, user=compliance_officer)
    first = timezone.now()
    assert reconsent_notice_accept(version=version, member=member, at=first) is True
    assert reconsent_notice_accept(version=version, member=member, at=first + datetime.timedelta(hours=1)) is False
    assert ReconsentNotice.objects.get(policy_version=version, member=member).accepted_at == first


def test_pp40_a_member_who_signed_up_under_a_major_version_has_accepted_it(compliance_officer):
    version = draft(kinds=[ChangeKind.CONTACT])
    policy_version_publish(version=version, user=compliance_officer)
    version.refresh_from_db()
    newcomer = MemberFactory(registered_at=version.published_at + datetime.timedelta(days=1))
    assert member_has_accepted(newcomer, version, at=version.published_at + datetime.timedelta(days=2))


def test_pp40_an_inactive_member_accepting_later_gets_a_notice_row(compliance_officer):
    member = MemberFactory(status=MemberStatus.SUSPENDED, registered_at=timezone.now() - datetime.timedelta(days=9))
    version = draft(kinds=[ChangeKind.CONTROLLER])
    policy_version_publish(version=version, user=compliance_officer, notify=False)
    assert not ReconsentNotice.objects.filter(member=member).exists()
    reconsent_notice_accept(version=version, member=member)
    assert member_has_accepted(member, version)


def test_an_unpublished_version_cannot_be_accepted():
    member = MemberFactory()
    with pytest.raises(ValidationError, match="not published"):
        reconsent_notice_accept(version=draft(kinds=[ChangeKind.RIGHTS]), member=member)
