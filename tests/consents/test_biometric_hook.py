"""Face captures need a biometric grant (issue 4, requirement 5; PP-10), wired through accounts' hook."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.members import hooks
from accounts.members.choices import DocumentKind
from accounts.models import IdentityDocument
from consents.choices import ConsentAction
from consents.legal_grounds import BIOMETRIC_PURPOSE
from consents.selectors import face_capture_consent_check
from tests.consents.ledger_helpers import born, initial_version, record
from tests.factories import MemberFactory, valid_cn_id

pytestmark = pytest.mark.django_db

ACCOUNTS = Path(__file__).resolve().parents[2] / "accounts"


@pytest.fixture(autouse=True)
def v1():
    return initial_version()


def face_capture(member) -> IdentityDocument:
    return IdentityDocument(member=member, kind=DocumentKind.FACE_CAPTURE, issuing_country="CN")


def test_pp10_a_face_capture_is_refused_without_a_biometric_grant():
    member = MemberFactory()
    with pytest.raises(ValidationError) as error:
        face_capture(member).full_clean()
    assert "consent to advanced face verification (PP-10)" in error.value.message_dict["kind"][0]


def test_pp10_a_face_capture_is_accepted_with_a_grant_and_refused_again_after_withdrawal():
    member = MemberFactory()
    record(member, BIOMETRIC_PURPOSE, at=timezone.now() - datetime.timedelta(minutes=5))
    face_capture(member).full_clean()  # no error
    record(member, BIOMETRIC_PURPOSE, ConsentAction.WITHDRAW)
    with pytest.raises(ValidationError) as error:
        face_capture(member).full_clean()
    assert "Withdrawn on" in error.value.message_dict["kind"][0]


def test_pp10_a_minors_face_capture_also_needs_a_guardians_grant():
    minor = MemberFactory(date_of_birth=born(15, timezone.localdate()))
    record(minor, BIOMETRIC_PURPOSE)
    with pytest.raises(ValidationError) as error:
        face_capture(minor).full_clean()
    assert "guardian" in error.value.message_dict["kind"][0]


def test_pp10_other_documents_need_no_biometric_grant():
    member = MemberFactory()
    IdentityDocument(member=member, kind=DocumentKind.NATIONAL_ID, issuing_country="CN",
                     number=valid_cn_id(7)).full_clean()


def test_the_check_is_registered_once_through_the_accounts_hook():
    from django.apps import apps

    apps.get_app_config("consents").ready()  # ready() may run again: no second registration
    assert hooks.document_store_checks.count(face_capture_consent_check) == 1


def test_accounts_never_imports_consents():
    offenders = [
        str(path.relative_to(ACCOUNTS)) for path in ACCOUNTS.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+consents\b", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []
