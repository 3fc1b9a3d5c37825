"""The retention admin (issue 5, requirement 8): holds, four-eyes erasure runs, read-only records,
job runs, reviews and assessments; bounded queries on every page."""

import datetime

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import Member
from retention import services
from retention.admin_actions import attach_member_actions, prepare_erasure
from retention.choices import ErasureTrigger, ItemStatus, ReviewOutcome, RiskLevel, RunStatus
from retention.erasure import apply, runner
from retention.erasure.records import was_erased
from retention.models import (
    ErasureRecord,
    ErasureRun,
    ErasureRunItem,
    ImpactAssessment,
    JobRun,
    LegalHold,
    ProcessingReview,
)
from tests.factories import DeviceRecordFactory, MemberFactory

pytestmark = pytest.mark.django_db


def cancelled_member(**kwargs) -> Member:
    member = MemberFactory(status=MemberStatus.CANCELLED,
                           cancelled_at=timezone.now() - datetime.timedelta(days=5), **kwargs)
    DeviceRecordFactory(member=member)
    return member


def action_names(response) -> set[str]:
    form = response.context["action_form"]
    return set(dict(form.fields["action"].choices)) if form else set()


def erased(member: Member) -> bool:
    return was_erased(member.member_number)


# --- Four eyes (services) ----------------------------------------------------------------------------
def test_four_eyes_a_prepared_run_erases_only_after_another_supervisor_approves(
    compliance_officer, supervisor, django_capture_on_commit_callbacks
):
    members = [cancelled_member() for _ in range(3)]
    run = services.erasure_run_prepare(member_ids=[m.pk for m in members], prepared_by=compliance_officer)
    assert run.status == RunStatus.PREPARED
    assert set(run.items.values_list("member_number", flat=True)) == {m.member_number for m in members}
    assert not any(erased(m) for m in members)

    with django_capture_on_commit_callbacks() as callbacks:
        services.erasure_run_approve(run=run, approved_by=supervisor)
    assert len(callbacks) == 1  # queued once, after the approval commits …
    assert not any(erased(m) for m in members)  # … and not before
    callbacks[0]()
    run.refresh_from_db()
    assert (run.status, run.approved_by) == (RunStatus.FINISHED, supervisor)
    assert all(erased(m) for m in members)
    assert set(run.items.values_list("status", flat=True)) == {ItemStatus.ERASED}


def test_four_eyes_the_preparer_can_never_approve(supervisor):
    run = services.erasure_run_prepare(member_ids=[cancelled_member().pk], prepared_by=supervisor)
    with pytest.raises(ValidationError, match="prepared by you"):
        services.erasure_run_approve(run=run, approved_by=supervisor)
    # The database refuses it as well, whatever writes it.
    with pytest.raises(IntegrityError), transaction.atomic():
        ErasureRun.objects.filter(pk=run.pk).update(approved_by=supervisor)
    run.refresh_from_db()
    assert run.status == RunStatus.PREPARED


def test_four_eyes_only_supervisors_approve_and_agents_cannot_prepare(compliance_officer, agent):
    run = services.erasure_run_prepare(member_ids=[cancelled_member().pk], prepared_by=compliance_officer)
    other_officer = type(compliance_officer).objects.create_user("other@test.example", "x" * 16)
    other_officer.groups.set(compliance_officer.groups.all())
    with pytest.raises(PermissionDenied):
        services.erasure_run_approve(run=run, approved_by=other_officer)
    with pytest.raises(PermissionDenied):
        services.erasure_run_prepare(member_ids=[cancelled_member().pk], prepared_by=agent)


def test_only_cancelled_members_can_be_prepared_and_only_once(compliance_officer):
    active = MemberFactory()
    member = cancelled_member()
    with pytest.raises(ValidationError, match=f"1 selected are not cancelled: {active.member_number}"):
        services.erasure_run_prepare(member_ids=[active.pk, member.pk], prepared_by=compliance_officer)
    assert not ErasureRun.objects.exists()
    services.erasure_run_prepare(member_ids=[member.pk], prepared_by=compliance_officer)
    with pytest.raises(ValidationError, match="already in an erasure run"):
        services.erasure_run_prepare(member_ids=[member.pk], prepared_by=compliance_officer)


def test_a_rejected_run_erases_nothing(compliance_officer, supervisor):
    member = cancelled_member()
    run = services.erasure_run_prepare(member_ids=[member.pk], prepared_by=compliance_officer)
    services.erasure_run_reject(run=run, rejected_by=supervisor)
    run.refresh_from_db()
    assert run.status == RunStatus.REJECTED
    with pytest.raises(ValidationError):
        services.erasure_run_approve(run=run, approved_by=supervisor)
    assert not erased(member)


def test_a_failure_is_listed_per_member_and_retry_reruns_exactly_those(
    compliance_officer, supervisor, django_capture_on_commit_callbacks, monkeypatch, client
):
    good, bad = cancelled_member(), cancelled_member()
    run = services.erasure_run_prepare(member_ids=[good.pk, bad.pk], prepared_by=compliance_officer)
    original = apply.erase_chunk

    def flaky(chunk):
        if bad.pk in chunk.fresh:
            raise RuntimeError("disk full")
        return original(chunk)

    monkeypatch.setattr(apply, "erase_chunk", flaky)
    with django_capture_on_commit_callbacks(execute=True):
        services.erasure_run_approve(run=run, approved_by=supervisor)
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED_WITH_FAILURES
    assert erased(good) and not erased(bad)
    failed = ErasureRunItem.objects.get(run=run, status=ItemStatus.FAILED)
    assert failed.member_number == bad.member_number
    assert "disk full" in failed.error or "RuntimeError" in failed.error

    client.force_login(compliance_officer)
    page = client.get(reverse("admin:retention_erasurerun_change", args=[run.pk])).content.decode()
    assert bad.member_number in page and failed.error in page

    monkeypatch.undo()
    erased_item = ErasureRunItem.objects.get(run=run, status=ItemStatus.ERASED)
    erased_at = erased_item.finished_at
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:retention_erasurerun_changelist"),
                               {"action": "retry_failed", ACTION_CHECKBOX_NAME: [run.pk]})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED
    assert erased(bad)
    assert ErasureRunItem.objects.get(pk=erased_item.pk).finished_at == erased_at  # not run again
    assert ErasureRecord.objects.filter(run=run).count() == 2


# --- The member changelist action --------------------------------------------------------------------
def test_prepare_erasure_action_is_on_the_member_changelist_for_compliance_only(compliance_officer, agent, client):
    members = [cancelled_member() for _ in range(2)]
    client.force_login(agent)
    response = client.get(reverse("admin:accounts_member_changelist"))
    assert response.status_code == 200
    assert "prepare_erasure" not in action_names(response)

    client.force_login(compliance_officer)
    response = client.get(reverse("admin:accounts_member_changelist"))
    assert "prepare_erasure" in action_names(response)
    response = client.post(reverse("admin:accounts_member_changelist"),
                           {"action": "prepare_erasure", ACTION_CHECKBOX_NAME: [m.pk for m in members]})
    assert response.status_code == 302
    run = ErasureRun.objects.get()
    assert (run.status, run.prepared_by, run.trigger) == (RunStatus.PREPARED, compliance_officer,
                                                          ErasureTrigger.CANCELLATION)
    assert run.items.count() == 2
    assert not any(erased(m) for m in members)


def test_prepare_erasure_action_refuses_active_members_with_a_message(compliance_officer, client):
    active = MemberFactory()
    client.force_login(compliance_officer)
    response = client.post(reverse("admin:accounts_member_changelist"),
                           {"action": "prepare_erasure", ACTION_CHECKBOX_NAME: [active.pk]}, follow=True)
    assert "not cancelled" in response.content.decode()
    assert not ErasureRun.objects.exists()


def test_attach_member_actions_is_idempotent_and_tolerates_no_member_admin():
    site = admin.AdminSite(name="empty")
    assert attach_member_actions(site) is False
    assert attach_member_actions() is True
    assert list(admin.site._registry[Member].actions).count(prepare_erasure) == 1


def test_approve_action_in_the_admin_and_four_eyes_message(compliance_officer, supervisor, client,
                                                           django_capture_on_commit_callbacks):
    member = cancelled_member()
    run = services.erasure_run_prepare(member_ids=[member.pk], prepared_by=supervisor)
    client.force_login(compliance_officer)
    response = client.get(reverse("admin:retention_erasurerun_changelist"))
    assert "approve_runs" not in action_names(response)

    client.force_login(supervisor)
    response = client.post(reverse("admin:retention_erasurerun_changelist"),
                           {"action": "approve_runs", ACTION_CHECKBOX_NAME: [run.pk]}, follow=True)
    assert "another supervisor must approve it" in response.content.decode()
    assert not erased(member)

    other = type(supervisor).objects.create_user("super2@test.example", "x" * 16)
    other.groups.set(supervisor.groups.all())
    client.force_login(other)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:retention_erasurerun_changelist"),
                    {"action": "approve_runs", ACTION_CHECKBOX_NAME: [run.pk]})
    assert erased(member)


# --- Legal holds in the admin ------------------------------------------------------------------------
def test_placing_and_releasing_a_hold_in_the_admin(compliance_officer, client):
    member = MemberFactory()
    client.force_login(compliance_officer)
    response = client.post(reverse("admin:retention_legalhold_add"), {
        "member": member.pk, "reason": "Regulator inquiry 2026-17", "starts_on": "2026-01-01", "ends_on": "",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    hold = LegalHold.objects.get()
    assert (hold.member, hold.owner) == (member, compliance_officer)

    # The change page is read-only: nothing about a hold is edited freely.
    change = reverse("admin:retention_legalhold_change", args=[hold.pk])
    page = client.get(change)
    assert page.status_code == 200 and "Release this hold" in page.content.decode()
    assert client.post(change, {"reason": "rewritten", "ends_on": "2026-01-02"}).status_code == 403

    release = reverse("admin:retention_legalhold_release", args=[hold.pk])
    response = client.post(release, {"release_reason": "short"})
    assert response.status_code == 200 and "at least" in response.content.decode()
    response = client.post(release, {"release_reason": "Inquiry closed without findings"})
    assert response.status_code == 302
    hold.refresh_from_db()
    assert hold.released_by == compliance_officer and hold.release_reason == "Inquiry closed without findings"
    history = client.get(reverse("admin:retention_legalhold_history", args=[hold.pk]))
    assert history.status_code == 200
    assert hold.history.count() == 2


def test_a_short_hold_reason_is_a_field_error(compliance_officer, client):
    client.force_login(compliance_officer)
    response = client.post(reverse("admin:retention_legalhold_add"), {
        "member": MemberFactory().pk, "reason": "because", "starts_on": "2026-01-01"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["reason"]
    assert not LegalHold.objects.exists()


def test_agents_and_auditors_cannot_place_or_release_holds(agent, auditor, compliance_officer, client):
    hold = services.legal_hold_place(member=MemberFactory(), reason="Regulator inquiry 2026-17",
                                     owner=compliance_officer)
    for user in (agent, auditor):
        client.force_login(user)
        assert client.get(reverse("admin:retention_legalhold_add")).status_code == 403
        response = client.post(reverse("admin:retention_legalhold_release", args=[hold.pk]),
                               {"release_reason": "I should not be able to do this"})
        assert response.status_code == 403
    hold.refresh_from_db()
    assert hold.released_at is None


def test_history_cannot_be_reverted(compliance_officer, client):
    hold = services.legal_hold_place(member=MemberFactory(), reason="Regulator inquiry 2026-17",
                                     owner=compliance_officer)
    services.legal_hold_release(hold=hold, released_by=compliance_officer, reason="Inquiry closed, no findings")
    first = hold.history.order_by("history_id").first()
    client.force_login(compliance_officer)
    url = reverse("admin:retention_legalhold_simple_history", args=[hold.pk, first.history_id])
    assert client.post(url, {}).status_code == 403
    hold.refresh_from_db()
    assert hold.released_at is not None


# --- Read-only registers -----------------------------------------------------------------------------
def test_records_runs_items_and_job_runs_are_read_only_for_everyone(superuser, auditor, client):
    member = cancelled_member()
    runner.erase_members(member_ids=[member.pk], trigger=ErasureTrigger.CANCELLATION)
    JobRun.objects.create(job="anonymise_cancelled", counts={"erased": 1})
    record = ErasureRecord.objects.get()
    for user in (superuser, auditor):
        client.force_login(user)
        for model in ("erasurerecord", "erasurerun", "erasurerunitem", "jobrun"):
            assert client.get(reverse(f"admin:retention_{model}_changelist")).status_code == 200
            assert client.get(reverse(f"admin:retention_{model}_add")).status_code == 403
        url = reverse("admin:retention_erasurerecord_change", args=[record.pk])
        assert client.get(url).status_code == 200
        assert client.post(url, {"trigger": "under_14"}).status_code == 403
        assert client.post(reverse("admin:retention_erasurerecord_delete", args=[record.pk]),
                           {"post": "yes"}).status_code == 403
    assert ErasureRecord.objects.get().trigger == ErasureTrigger.CANCELLATION


# --- Reviews and assessments -------------------------------------------------------------------------
def test_recording_a_review_in_the_admin(compliance_officer, client):
    client.force_login(compliance_officer)
    response = client.post(reverse("admin:retention_processingreview_add"), {
        "processing": "Marketing SMS", "reviewer": compliance_officer.pk, "reviewed_on": "2026-06-01",
        "outcome": ReviewOutcome.COMPLIANT, "findings": "", "next_due": "2026-05-01",
    })
    assert response.status_code == 200  # next review before this one: refused with an error
    assert not ProcessingReview.objects.exists()
    response = client.post(reverse("admin:retention_processingreview_add"), {
        "processing": "Marketing SMS", "reviewer": compliance_officer.pk, "reviewed_on": "2026-06-01",
        "outcome": ReviewOutcome.COMPLIANT, "findings": "", "next_due": "2027-06-01",
    })
    assert response.status_code == 302
    assert ProcessingReview.objects.get().reviewer == compliance_officer


def test_a_review_by_someone_who_left_can_still_be_edited(compliance_officer, supervisor, client):
    done = services.processing_review_record(
        processing="Marketing SMS", reviewer=supervisor, reviewed_on=datetime.date(2026, 1, 5),
        outcome=ReviewOutcome.COMPLIANT, next_due=datetime.date(2027, 1, 5))
    supervisor.is_active = False
    supervisor.save()
    client.force_login(compliance_officer)
    response = client.post(reverse("admin:retention_processingreview_change", args=[done.pk]), {
        "processing": "Marketing SMS", "reviewer": supervisor.pk, "reviewed_on": "2026-01-05",
        "outcome": ReviewOutcome.ACTIONS_REQUIRED, "findings": "Opt-out delay found", "next_due": "2026-07-05",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    done.refresh_from_db()
    assert (done.outcome, done.reviewer) == (ReviewOutcome.ACTIONS_REQUIRED, supervisor)
    assert done.history.count() == 2


def test_assessment_report_is_stored_encrypted_and_served_only_through_the_admin(
    compliance_officer, auditor, agent, client, settings
):
    client.force_login(compliance_officer)
    pdf = b"%PDF-1.7 impact assessment canary-zq81"
    response = client.post(reverse("admin:retention_impactassessment_add"), {
        "scope": "Card data flows", "risk_level": RiskLevel.HIGH, "assessed_on": "2026-06-01",
        "assessor": compliance_officer.pk, "next_due": "2027-06-01",
        "report": SimpleUploadedFile("Jane Doe assessment.pdf", pdf, content_type="application/pdf"),
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    assessment = ImpactAssessment.objects.get()
    stored = (settings.MEDIA_ROOT / assessment.report.name).read_bytes()
    assert b"canary-zq81" not in stored  # encrypted at rest
    assert "Jane" not in assessment.report.name  # the uploaded name is not kept

    page = client.get(reverse("admin:retention_impactassessment_change", args=[assessment.pk])).content.decode()
    download = reverse("admin:retention_impactassessment_report", args=[assessment.pk])
    assert download in page and assessment.report.name not in page
    for user, expected in ((compliance_officer, 200), (auditor, 200), (agent, 403)):
        client.force_login(user)
        response = client.get(download)
        assert response.status_code == expected
        if expected == 200:
            assert b"".join(response.streaming_content) == pdf
            assert f"impact-assessment-{assessment.pk}.pdf" in response["Content-Disposition"]


# --- Query bounds: 3 vs 30 rows, same bound ----------------------------------------------------------
def _populate(n: int, officer, supervisor) -> None:
    members = [cancelled_member() for _ in range(2 * n)]
    for member in members[:n]:  # n holds; the other n members are erased: n records, n run items
        services.legal_hold_place(member=member, reason="Regulator inquiry 2026-17", owner=officer)
    run = services.erasure_run_prepare(member_ids=[m.pk for m in members[n:]], prepared_by=officer)
    runner.erase_members(member_ids=[m.pk for m in members], trigger=ErasureTrigger.CANCELLATION)
    ErasureRunItem.objects.filter(run=run).update(status=ItemStatus.FAILED, error="accounts.Member: boom")
    for i in range(n):
        JobRun.objects.create(job="expire_security_data", counts={"changed": i})
        services.processing_review_record(processing=f"Processing {i}", reviewer=officer,
                                          reviewed_on=datetime.date(2026, 1, 1), outcome=ReviewOutcome.COMPLIANT,
                                          next_due=datetime.date(2027, 1, 1))
        services.impact_assessment_record(scope=f"Scope {i}", risk_level=RiskLevel.LOW,
                                          assessed_on=datetime.date(2026, 1, 1), assessor=officer)
        ErasureRun.objects.create(trigger=ErasureTrigger.UNDER_14, status=RunStatus.FINISHED)


PAGES = ("legalhold", "erasurerun", "erasurerunitem", "erasurerecord", "jobrun", "processingreview",
         "impactassessment")


@pytest.mark.parametrize("model", PAGES)
@pytest.mark.parametrize("rows", [3, 30])
def test_changelist_and_change_page_queries_do_not_grow_with_rows(
    model, rows, compliance_officer, supervisor, client, django_assert_max_num_queries
):
    _populate(rows, compliance_officer, supervisor)
    client.force_login(compliance_officer)
    with django_assert_max_num_queries(8):
        response = client.get(reverse(f"admin:retention_{model}_changelist"))
    assert response.status_code == 200
    model_class = response.context["cl"].model
    assert model_class.objects.count() >= rows
    assert len(response.context["cl"].result_list) == min(model_class.objects.count(), 100)
    obj = response.context["cl"].result_list[0]
    if model == "erasurerun":  # the run with the items and failures
        obj = ErasureRun.objects.filter(prepared_by=compliance_officer).get()
    with django_assert_max_num_queries(9):
        response = client.get(reverse(f"admin:retention_{model}_change", args=[obj.pk]))
    assert response.status_code == 200
