"""Issue 14, requirement 3 at the request desk: the access package and refusals show processing on a
legal ground (PP-17) from the same records ``may_process`` reads."""

from __future__ import annotations

import datetime
import json
import zipfile
from io import BytesIO

import pytest

from consents.grounds.services import processing_ground_approve, processing_ground_end, processing_ground_record
from consents.models import LegalGround, Purpose
from requests_desk import access_package, letters, lifecycle, workflow
from requests_desk.choices import IntakeChannel, RequesterKind, RequestType, VerificationMethod
from requests_desk.models import IdentityCheck, Request
from requests_desk.states import Status
from requests_desk.workflow import TransitionError
from tests.clock import frozen
from tests.factories import MemberFactory, ProductLineFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 3, 10, 12, tzinfo=datetime.UTC)
OLD = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def clock():
    with frozen(NOW) as traveller:
        yield traveller


def in_force(officer, supervisor, *, code="consent-other-law", reference="AML Act art. 33", **whom):
    saved = processing_ground_record(
        purpose=Purpose.objects.get(code="marketing-sms"), ground=LegalGround.objects.get(code=code),
        reference=reference, user=officer, starts_on=datetime.date(2026, 3, 1), **whom,
    )
    return processing_ground_approve(record=saved, user=supervisor)


def open_request(member, user, type_=RequestType.ACCESS) -> Request:
    request = lifecycle.request_create(
        type=type_, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.EMAIL, member=member,
        requester_name="Requester Name", requester_email="requester@mail.example", subject="My data",
        description="", details={},
    )
    workflow.transition(request=request, name="start", user=user, note="starting")
    IdentityCheck.objects.create(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                 evidence="passport matched", verified_by=user)
    return Request.objects.get(pk=request.pk)


def test_pp17_the_access_package_lists_the_grounds_in_force_for_the_member(compliance_officer, supervisor):
    """PP-17, PP-29: the member's copy says what is processed without their consent, on which ground,
    with its reference and dates: their own records and their product line's; ended ones are not in
    force and are not listed as such."""
    line = ProductLineFactory(code="derivatives", name="Derivatives")
    member = MemberFactory(registered_at=OLD)
    member.product_lines.add(line)
    in_force(compliance_officer, supervisor, member=member, reference="Court order 2026-117")
    in_force(compliance_officer, supervisor, product_line=line, code="consent-contract",
             reference="Client agreement cl. 12")
    ended = in_force(compliance_officer, supervisor, member=member, reference="Old notice 2025-3")
    processing_ground_end(record=ended, user=compliance_officer, reason="Notice lifted.")
    request = open_request(member, compliance_officer)

    archive = zipfile.ZipFile(BytesIO(access_package.package_content(member=member, reference=request.reference).data))
    readme = archive.read("README.txt").decode()
    assert "Processing without your consent on a legal ground" in readme
    assert "Court order 2026-117" in readme and "Client agreement cl. 12" in readme
    assert "every member of the product line Derivatives" in readme
    records = json.loads(archive.read(access_package.GROUNDS_FILE))["records"]
    assert sorted(r["Reference"] for r in records) == ["Client agreement cl. 12", "Court order 2026-117"]
    assert {r["Legal ground"].split(" ", 2)[1] for r in records} == {"(7)", "(11)"}

    other = MemberFactory(registered_at=OLD)
    archive = zipfile.ZipFile(BytesIO(access_package.package_content(member=other, reference="R").data))
    assert "none in force." in archive.read("README.txt").decode()
    assert json.loads(archive.read(access_package.GROUNDS_FILE))["records"] == []


def test_pp17_a_refusal_citing_processing_on_a_ground_needs_a_record_in_force_for_the_member(
    compliance_officer, supervisor
):
    """PP-17: a withdrawal refused because the law requires the processing cites the approved record
    in force for that member; another member's or an ended record is refused with the reason, and the
    letter states the ground with its reference."""
    member, other = MemberFactory(registered_at=OLD), MemberFactory(registered_at=OLD)
    mine = in_force(compliance_officer, supervisor, member=member, reference="Court order 2026-117")
    theirs = in_force(compliance_officer, supervisor, member=other)
    ended = in_force(compliance_officer, supervisor, member=member, reference="Old notice")
    processing_ground_end(record=ended, user=compliance_officer, reason="Lifted.")
    request = open_request(member, compliance_officer, RequestType.CONSENT_WITHDRAWAL)
    ground = LegalGround.objects.get(code="cannot-crime-investigation")
    for wrong in (theirs, ended):
        with pytest.raises(TransitionError) as caught:
            lifecycle.request_refuse(request=request, user=compliance_officer, grounds=[ground],
                                     ground_records=[wrong], note="kept by law", notify=False)
        assert f"#{wrong.pk} is not in force" in caught.value.message_dict["ground_records"][0]
    assert Request.objects.get(pk=request.pk).status == Status.IN_PROGRESS

    refused = lifecycle.request_refuse(request=request, user=compliance_officer, grounds=[ground],
                                       ground_records=[mine], note="kept by law", notify=False)
    assert refused.status == Status.REFUSED
    assert list(refused.refusal_ground_records.all()) == [mine]
    letter = letters.letter_render(request=refused, template="refusal")
    assert "Court order 2026-117" in letter.text and "Other circumstances stipulated by laws" in letter.text
