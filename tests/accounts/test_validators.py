"""Identity-document numbers are validated per kind and country (PP-06, issue 3 requirement 2).

An invalid number gets an error on the ``number`` field that names the rule broken, and never
repeats the number (errors reach logs and screens).
"""

import pytest
from django.core.exceptions import ValidationError
from django.forms import modelform_factory

from accounts.members.choices import DocumentKind
from accounts.members.validators import validate_document_number
from accounts.models import IdentityDocument
from tests.factories import MemberFactory, RelatedPersonFactory, valid_cn_id

VALID_CN_ID = valid_cn_id(17)  # 110101 19900517 017 + check digit
VALID_USCC = "91110000600037341L"


def _error(kind: str, country: str, number: str) -> str:
    with pytest.raises(ValidationError) as caught:
        validate_document_number(kind=kind, country=country, number=number)
    errors = caught.value.message_dict
    assert list(errors) == ["number"], "the error is keyed to the number field"
    (message,) = errors["number"]
    compact = "".join(ch for ch in number if ch.isalnum())
    assert number not in message and compact not in message and compact.upper() not in message
    return message


def _wrong_check_digit(number: str) -> str:
    last = number[-1]
    return number[:-1] + ("1" if last != "1" else "2")


# --- PRC resident identity card (GB 11643 checksum) ----------------------------------------------
def test_pp06_a_valid_prc_resident_id_passes_in_its_compact_form():
    assert validate_document_number(kind=DocumentKind.NATIONAL_ID, country="CN", number=VALID_CN_ID) == VALID_CN_ID
    spaced = f" {VALID_CN_ID[:6]} {VALID_CN_ID[6:14]} {VALID_CN_ID[14:]} "
    assert validate_document_number(kind=DocumentKind.NATIONAL_ID, country="cn", number=spaced) == VALID_CN_ID


def test_pp06_a_prc_resident_id_with_a_wrong_check_digit_names_the_rule():
    message = _error(DocumentKind.NATIONAL_ID, "CN", _wrong_check_digit(VALID_CN_ID))
    assert "PRC resident identity card number" in message
    assert "check digit" in message


def test_pp06_a_prc_resident_id_of_the_wrong_length_or_with_an_impossible_birth_date_is_refused():
    assert "wrong length" in _error(DocumentKind.NATIONAL_ID, "CN", VALID_CN_ID[:-2])
    impossible = "11010119901317" + "0012"  # month 13
    assert "PRC resident identity card number" in _error(DocumentKind.NATIONAL_ID, "CN", impossible)


# --- US social-security number --------------------------------------------------------------------
def test_pp06_a_valid_us_ssn_passes():
    assert validate_document_number(kind=DocumentKind.SOCIAL_SECURITY, country="US", number="536-90-4399") == (
        "536904399"
    )


@pytest.mark.parametrize("number", ["666-12-3456", "000-12-3456", "536-00-4399", "078-05-1120", "536-90-439"])
def test_pp06_an_invalid_us_ssn_names_the_rule(number):
    assert "US social-security number" in _error(DocumentKind.SOCIAL_SECURITY, "US", number)


# --- Passport (ICAO 9303 format) ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "stored"), [("E12345678", "E12345678"), ("e1234 5678", "E12345678"), ("G-12345", "G12345")]
)
def test_pp06_a_passport_number_in_the_icao_format_passes(typed, stored):
    assert validate_document_number(kind=DocumentKind.PASSPORT, country="CN", number=typed) == stored


@pytest.mark.parametrize("number", ["E123", "E1234567890", "E1234$678"])
def test_pp06_a_passport_number_of_the_wrong_format_names_the_rule(number):
    message = _error(DocumentKind.PASSPORT, "CN", number)
    assert "passport number (ICAO 9303)" in message


# --- Company registration (PRC unified social credit code) ---------------------------------------
def test_pp07_a_valid_company_registration_passes():
    assert validate_document_number(
        kind=DocumentKind.COMPANY_REGISTRATION, country="CN", number=VALID_USCC
    ) == VALID_USCC


def test_pp07_a_company_registration_with_a_wrong_check_character_names_the_rule():
    message = _error(DocumentKind.COMPANY_REGISTRATION, "CN", VALID_USCC[:-1] + "M")
    assert "PRC unified social credit code" in message
    assert "check digit" in message


# --- Kinds without a number, countries without a rule --------------------------------------------
def test_pp06_a_kind_that_needs_a_number_refuses_an_empty_one():
    with pytest.raises(ValidationError) as caught:
        validate_document_number(kind=DocumentKind.NATIONAL_ID, country="CN", number="  ")
    assert "required" in caught.value.message_dict["number"][0]
    assert validate_document_number(kind=DocumentKind.FACE_CAPTURE, country="", number="") == ""


def test_pp06_a_country_without_a_stdnum_rule_keeps_the_number_as_typed():
    assert validate_document_number(kind=DocumentKind.DRIVER_LICENCE, country="NZ", number="DL 12345") == "DL 12345"


# --- Applied by the model and by forms (the admin) -----------------------------------------------
@pytest.mark.django_db
def test_pp06_identity_document_full_clean_applies_the_rule():
    member = MemberFactory()
    document = IdentityDocument(
        member=member, kind=DocumentKind.NATIONAL_ID, issuing_country="CN", number=_wrong_check_digit(VALID_CN_ID)
    )
    with pytest.raises(ValidationError) as caught:
        document.full_clean()
    assert "PRC resident identity card number" in caught.value.message_dict["number"][0]
    assert document.number not in str(caught.value)

    document.number = VALID_CN_ID
    document.full_clean()  # no error


@pytest.mark.django_db
def test_pp06_the_admin_form_shows_the_rule_on_the_number_field():
    member = MemberFactory()
    form_class = modelform_factory(IdentityDocument, fields=["member", "kind", "issuing_country", "number"])
    form = form_class(
        data={"member": member.pk, "kind": DocumentKind.SOCIAL_SECURITY, "issuing_country": "US",
              "number": "666-12-3456"}
    )
    assert not form.is_valid()
    assert form.errors["number"] == ["Not a valid US social-security number: a part of it (e.g. birth date or "
                                     "region code) is not valid."]
    assert "666" not in str(form.errors)


@pytest.mark.django_db
def test_pp07_a_related_persons_document_must_belong_to_the_same_member():
    person = RelatedPersonFactory()
    document = IdentityDocument(
        member=MemberFactory(), related_person=person, kind=DocumentKind.PASSPORT, issuing_country="SG",
        number="K1234567",
    )
    with pytest.raises(ValidationError) as caught:
        document.full_clean()
    assert list(caught.value.message_dict) == ["related_person"]
