"""Issue 3, requirements 7, 9 and 11: the member admins mask, filter, search and log nothing personal."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import unquote_plus

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.members.choices import (
    DocumentKind,
    MemberKind,
    MemberStatus,
    ReviewStatus,
    VerificationLevel,
    VerificationMethod,
    VerificationOutcome,
)
from accounts.models import IdentityDocument, Member, ProductLine, SensitiveAccessLog, Verification
from tests.factories import (
    DeviceRecordFactory,
    IdentityDocumentFactory,
    InstitutionFactory,
    MemberFactory,
    PaymentInstrumentFactory,
    RelatedPersonFactory,
    TransactionRecordFactory,
    VerificationFactory,
    valid_cn_id,
)

pytestmark = pytest.mark.django_db

EMAIL = "plain.canary@mail.example"
PHONE = "+86 139 1234 5678"
CARD = "6222 0200 4444 9876"
LOCATION = "31.2304,121.4737"


class _Links(HTMLParser):
    """Every URL a page points to (links, forms, scripts, images)."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src", "action") and value:
                self.urls.append(unquote_plus(value))


def page_urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def plaintext_forms(value: str) -> list[str]:
    """How a value could appear unmasked: as typed, and its digits run together."""
    digits = "".join(ch for ch in value if ch.isdigit())
    return [value, *([digits] if len(digits) >= 8 else [])]


@pytest.fixture
def member():
    member = MemberFactory(email=EMAIL, phone=PHONE, date_of_birth=datetime.date(1977, 3, 14))
    IdentityDocumentFactory(member=member, number=valid_cn_id(7))
    PaymentInstrumentFactory(member=member, number=CARD)
    VerificationFactory(member=member)
    DeviceRecordFactory(member=member, location=LOCATION)
    TransactionRecordFactory(member=member)
    return member


def secrets_of(member: Member) -> list[str]:
    document = member.documents.get()
    return [
        *plaintext_forms(EMAIL), *plaintext_forms(PHONE), *plaintext_forms(CARD), *plaintext_forms(document.number),
        "1977-03-14", "March 14, 1977", "Mar. 14, 1977", LOCATION,
    ]


def assert_no_plaintext(html: str, secrets: list[str]):
    for secret in secrets:
        assert secret not in html, f"plaintext {secret!r} on the page"


# --- Masking (PP-25) ------------------------------------------------------------------------------
ROLES = ("compliance_officer", "supervisor", "auditor", "agent", "superuser")


@pytest.mark.parametrize("role", ROLES)
def test_pp25_member_pages_show_sensitive_values_masked_for_every_role(client, request, member, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    secrets = secrets_of(member)
    document = member.documents.get()
    pages = {
        "/admin/accounts/member/": 200,
        f"/admin/accounts/member/{member.pk}/change/": 200,
        "/admin/accounts/identitydocument/": 200,
        f"/admin/accounts/identitydocument/{document.pk}/change/": 200,
        "/admin/accounts/paymentinstrument/": 200 if user.has_perm("accounts.view_paymentinstrument") else 403,
        "/admin/accounts/devicerecord/": 200 if user.has_perm("accounts.view_devicerecord") else 403,
    }
    for url, status in pages.items():
        response = client.get(url)
        assert response.status_code == status, url
        html = response.content.decode()
        assert_no_plaintext(html, secrets)
        if status == 200 and "/member/" in url:
            assert "p***@mail.example" in html
            assert "**** 5678" in html


def test_pp25_masked_forms_match_the_examples_of_the_issue(client, compliance_officer, member):
    client.force_login(compliance_officer)
    html = client.get(f"/admin/accounts/member/{member.pk}/change/").content.decode()
    number = member.documents.get().number
    assert f"{number[:3]}{'*' * (len(number) - 7)}{number[-4:]}" in html  # 110***********0071
    assert "**** 9876" in html  # card
    assert "p***@mail.example" in html
    assert "****-**-**" in html  # date of birth


def test_pp25_reveal_links_only_for_users_who_may_reveal(client, compliance_officer, auditor, agent, member):
    reveal = f"/admin/accounts/reveal/accounts.member/{member.pk}/email/"
    client.force_login(compliance_officer)
    assert reveal in client.get("/admin/accounts/member/").content.decode()
    assert reveal in client.get(f"/admin/accounts/member/{member.pk}/change/").content.decode()
    for user in (auditor, agent):
        client.force_login(user)
        for url in ("/admin/accounts/member/", f"/admin/accounts/member/{member.pk}/change/"):
            html = client.get(url).content.decode()
            assert "p***@mail.example" in html
            assert "/admin/accounts/reveal/" not in html, (user, url)


def test_pp25_change_page_offers_an_empty_replace_input_only_to_officers(client, compliance_officer, auditor, member):
    client.force_login(compliance_officer)
    html = client.get(f"/admin/accounts/member/{member.pk}/change/").content.decode()
    email_input = re.search(r'<input[^>]*name="email"[^>]*>', html).group(0)
    assert "value=" not in email_input
    card_input = re.search(r'<input[^>]*name="payment_instruments-0-number"[^>]*>', html).group(0)
    assert "value=" not in card_input

    client.force_login(auditor)
    html = client.get(f"/admin/accounts/member/{member.pk}/change/").content.decode()
    assert 'name="email"' not in html
    assert "p***@mail.example" in html


def test_pp25_add_page_has_normal_inputs_for_sensitive_fields(client, compliance_officer):
    client.force_login(compliance_officer)
    html = client.get("/admin/accounts/member/add/").content.decode()
    for name in ("email", "phone", "date_of_birth"):
        assert re.search(rf'<input[^>]*name="{name}"', html), name
    assert "masked-value" not in html


def _member_post(member: Member, **changes) -> dict:
    data = {
        "member_number": member.member_number,
        "kind": member.kind,
        "nationality": member.nationality,
        "legal_name": member.legal_name,
        "local_name": member.local_name,
        "date_of_birth": "",
        "email": "",
        "phone": "",
    }
    for prefix in ("documents", "verifications", "payment_instruments"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    if member.kind == MemberKind.INSTITUTION:
        data.update({"institution-TOTAL_FORMS": "0", "institution-INITIAL_FORMS": "0"})
        data.update({"related_persons-TOTAL_FORMS": "0", "related_persons-INITIAL_FORMS": "0"})
    data.update(changes)
    return data


def test_pp25_leaving_the_replace_input_empty_keeps_the_value(client, compliance_officer):
    member = MemberFactory(email=EMAIL, phone=PHONE)
    client.force_login(compliance_officer)
    response = client.post(f"/admin/accounts/member/{member.pk}/change/", _member_post(member, legal_name="Changed"))
    assert response.status_code == 302, response.content.decode()[:3000]
    member.refresh_from_db()
    assert (member.email, member.phone, member.legal_name) == (EMAIL, PHONE, "Changed")
    assert member.date_of_birth == datetime.date(1990, 5, 17)


def test_pp25_typing_into_the_replace_input_replaces_the_value(client, compliance_officer):
    member = MemberFactory(email=EMAIL)
    client.force_login(compliance_officer)
    response = client.post(
        f"/admin/accounts/member/{member.pk}/change/",
        _member_post(member, email="new.address@mail.example", date_of_birth="2001-02-03"),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    member.refresh_from_db()
    assert member.email == "new.address@mail.example"
    assert member.date_of_birth == datetime.date(2001, 2, 3)
    assert member.birth_year == 2001
    assert list(Member.objects.filter(email_bidx=member.email_bidx)) == [member]


def test_pp25_history_pages_show_no_plaintext(client, compliance_officer, auditor):
    member = MemberFactory(email=EMAIL, phone=PHONE)
    member.email = "second.canary@mail.example"
    member.phone = "+86 139 8888 7777"
    member.save()
    secrets = [*plaintext_forms(EMAIL), *plaintext_forms(PHONE), "second.canary", "8888 7777", "88887777", "1990-05-17"]
    record = member.history.order_by("history_id").first()
    for user in (compliance_officer, auditor):
        client.force_login(user)
        listing = client.get(f"/admin/accounts/member/{member.pk}/history/")
        assert listing.status_code == 200
        html = listing.content.decode()
        assert_no_plaintext(html, secrets)
        assert "p***@mail.example" in html and "s***@mail.example" in html  # the diff, masked
        assert member.email_bidx not in html  # no keyed hashes either
        version = client.get(f"/admin/accounts/member/{member.pk}/history/{record.history_id}/")
        assert version.status_code == 200
        html = version.content.decode()
        assert_no_plaintext(html, secrets)
        assert "p***@mail.example" in html  # the past value, masked
        assert "/admin/accounts/reveal/" not in html  # a reveal there would show today's value


def test_history_page_shows_product_line_changes(client, compliance_officer):
    spot = ProductLine.objects.create(code="spot", name="Spot")
    margin = ProductLine.objects.create(code="margin", name="Margin")
    member = MemberFactory()
    member.product_lines.set([spot])
    member.save()
    member.product_lines.add(margin)
    member.save()
    client.force_login(compliance_officer)
    html = re.sub(r"\s+", " ", client.get(f"/admin/accounts/member/{member.pk}/history/").content.decode())
    assert "<strong>Product lines:</strong> Spot &nbsp;&rarr;&nbsp;&nbsp;Margin, Spot" in html


# --- Access log is read-only for everyone ---------------------------------------------------------
def test_pp25_access_log_is_read_only_even_for_superusers(client, superuser, compliance_officer):
    entry = SensitiveAccessLog.objects.create(
        staff_user=compliance_officer, action=SensitiveAccessLog.Action.REVEAL, member_number="M1",
        model_label="accounts.Member", object_id="1", field_name="email", reason="ticket 42 check",
    )
    client.force_login(superuser)
    assert client.get("/admin/accounts/sensitiveaccesslog/add/").status_code == 403
    assert client.get(f"/admin/accounts/sensitiveaccesslog/{entry.pk}/delete/").status_code == 403
    change = client.get(f"/admin/accounts/sensitiveaccesslog/{entry.pk}/change/")
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()
    response = client.post(f"/admin/accounts/sensitiveaccesslog/{entry.pk}/change/", {"reason": "rewritten"})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.reason == "ticket 42 check"


def test_members_records_cannot_be_deleted_through_the_admin(client, superuser, member):
    client.force_login(superuser)
    assert client.get(f"/admin/accounts/member/{member.pk}/delete/").status_code == 403
    assert Member.objects.filter(pk=member.pk).exists()


# --- Filters (req 9) ------------------------------------------------------------------------------
def _listed(client, query: str) -> set[str]:
    html = client.get(f"/admin/accounts/member/?{query}").content.decode()
    return set(re.findall(r">(M\d{9})</a>", html))


def test_member_list_filters_kind_status_level_and_product_line(client, compliance_officer):
    spot = ProductLine.objects.create(code="spot", name="Spot")
    margin = ProductLine.objects.create(code="margin", name="Margin")
    person = MemberFactory(verification_level=VerificationLevel.REAL_NAME)
    person.product_lines.set([spot])
    company = InstitutionFactory(status=MemberStatus.SUSPENDED)
    company.product_lines.set([spot, margin])
    client.force_login(compliance_officer)
    assert _listed(client, "kind__exact=institution") == {company.member_number}
    assert _listed(client, "status__exact=suspended") == {company.member_number}
    assert _listed(client, "verification_level__exact=real_name") == {person.member_number}
    assert _listed(client, f"product_lines__id__exact={margin.pk}") == {company.member_number}
    assert _listed(client, f"product_lines__id__exact={spot.pk}") == {person.member_number, company.member_number}


def test_pp10_needs_advanced_verification_filter(client, compliance_officer, settings):
    settings.ADVANCED_VERIFICATION_THRESHOLD = {"amount": "10000", "window_days": 30}
    heavy = MemberFactory()
    certified = MemberFactory(verification_level=VerificationLevel.ADVANCED)
    light = MemberFactory()
    old = MemberFactory()
    now = timezone.now()
    for who in (heavy, certified):
        TransactionRecordFactory.create_batch(3, member=who, amount=Decimal("4000"), order_time=now)
    TransactionRecordFactory(member=light, amount=Decimal("9000"), order_time=now)
    TransactionRecordFactory(member=old, amount=Decimal("90000"), order_time=now - datetime.timedelta(days=40))
    client.force_login(compliance_officer)
    with CaptureQueriesContext(connection) as queries:
        listed = _listed(client, "needs_advanced=yes")
    assert listed == {heavy.member_number}
    # Amounts are encrypted: the sums read the plain daily volumes, never the transaction table.
    assert not [q["sql"] for q in queries if "accounts_transactionrecord" in q["sql"]]
    page_query = [q["sql"] for q in queries if "accounts_memberdailyvolume" in q["sql"]]
    # The selector's aggregate is a subquery of the page's query (plus the bounded count).
    assert all("SUM(" in sql.upper() for sql in page_query)
    assert len(page_query) == 2


# --- Search (req 9, req 11) -----------------------------------------------------------------------
def _search(client, term: str, **extra):
    return client.post("/admin/accounts/member/search/", {"q": term, **extra})


def test_search_by_exact_values_uses_a_token_and_keeps_the_term_out_of_urls(client, compliance_officer, member):
    other = MemberFactory()
    client.force_login(compliance_officer)
    document = member.documents.get()
    for term in (EMAIL.upper(), "+86-139-1234-5678", document.number.lower(), CARD.replace(" ", "")):
        response = _search(client, term)
        assert response.status_code == 302
        location = response["Location"]
        assert "qs=" in location
        assert term.lower() not in unquote_plus(location).lower()
        page = client.get(location)
        html = page.content.decode()
        assert member.member_number in html and other.member_number not in html, term
        for url in page_urls(html):
            assert term.lower() not in url.lower(), url


def test_search_by_member_number_prefix(client, compliance_officer):
    first = MemberFactory(member_number="M777000001")
    second = MemberFactory(member_number="M777000002")
    third = MemberFactory(member_number="M888000001")
    client.force_login(compliance_officer)
    html = client.get(_search(client, "m777")["Location"]).content.decode()
    assert first.member_number in html and second.member_number in html
    assert third.member_number not in html


def test_a_plain_search_query_string_is_swapped_for_a_token(client, compliance_officer, member):
    client.force_login(compliance_officer)
    response = client.get("/admin/accounts/member/", {"q": EMAIL, "kind__exact": "individual"})
    assert response.status_code == 302
    assert EMAIL not in unquote_plus(response["Location"])
    assert "kind__exact=individual" in response["Location"]
    assert member.member_number in client.get(response["Location"]).content.decode()


def test_an_unknown_search_token_finds_nothing(client, compliance_officer, member):
    client.force_login(compliance_officer)
    html = client.get("/admin/accounts/member/?qs=forged-token").content.decode()
    assert member.member_number not in html
    assert "expired" in html


def test_search_terms_are_encrypted_in_the_session(client, compliance_officer, member):
    from django.contrib.sessions.models import Session

    client.force_login(compliance_officer)
    _search(client, EMAIL)
    stored = Session.objects.get(session_key=client.session.session_key).session_data
    assert "plain.canary" not in stored
    assert "plain.canary" not in str(client.session.load())


def test_search_needs_a_post_with_csrf(client, compliance_officer):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(compliance_officer)
    assert strict.post("/admin/accounts/member/search/", {"q": EMAIL}).status_code == 403
    client.force_login(compliance_officer)
    assert client.get("/admin/accounts/member/search/").status_code == 405


def test_device_and_transaction_pages_are_filtered_by_member_from_the_member_page(
    client, compliance_officer, member
):
    other = MemberFactory()
    DeviceRecordFactory(member=other)
    TransactionRecordFactory(member=other)
    client.force_login(compliance_officer)
    html = client.get(f"/admin/accounts/member/{member.pk}/change/").content.decode()
    for name in ("devicerecord", "transactionrecord"):
        url = f"/admin/accounts/{name}/?member__id__exact={member.pk}"
        assert url in html.replace("&amp;", "&")
        listing = client.get(url).content.decode()
        assert member.member_number in listing and other.member_number not in listing


# --- No personal data in __str__, log entries, URLs (req 7/11) ------------------------------------
CANARY = {
    "legal_name": "Canarylegal Qzxv",
    "local_name": "Canarylocal Qzxv",
    "email": "canary.qzxv@leak.example",
    "phone": "+86 138 9753 1864",
    "date_of_birth": "1933-07-21",
}


def test_req11_no_canary_in_log_entries_str_or_changelist_urls(client, compliance_officer):
    client.force_login(compliance_officer)
    data = {
        "member_number": "M555000001",
        "kind": MemberKind.INSTITUTION,
        "nationality": "ZZ",
        **CANARY,
        "institution-TOTAL_FORMS": "1",
        "institution-INITIAL_FORMS": "0",
        "institution-0-legal_name": "Canarycorp Qzxv Ltd",
        "institution-0-local_name": "Canarycorplocal Qzxv",
        "institution-0-registration_number": "CANARYREG-QZXV",
        "institution-0-registration_info": "Canaryinfo Qzxv",
        "institution-0-business_phone": "+852 9753 1864",
        "institution-0-main_place_of_business": "1 Canary Street Qzxv",
        "institution-0-company_structure": "Canarystructure Qzxv",
        "institution-0-funding_sources": "Canaryfunds Qzxv",
        "related_persons-TOTAL_FORMS": "1",
        "related_persons-INITIAL_FORMS": "0",
        "related_persons-0-role": "beneficial_owner",
        "related_persons-0-ownership_share": "40",
        "related_persons-0-legal_name": "Canaryowner Qzxv",
        "related_persons-0-local_name": "Canaryownerlocal Qzxv",
        "related_persons-0-nationality": "SG",
        "related_persons-0-date_of_birth": "1944-08-19",
        "related_persons-0-email": "owner.qzxv@leak.example",
        "related_persons-0-phone": "+65 9753 1864",
        "documents-TOTAL_FORMS": "1",
        "documents-INITIAL_FORMS": "0",
        "documents-0-kind": DocumentKind.PASSPORT,
        "documents-0-issuing_country": "SG",
        "documents-0-number": "QZXV12345",
        "verifications-TOTAL_FORMS": "1",
        "verifications-INITIAL_FORMS": "0",
        "verifications-0-level": VerificationLevel.REAL_NAME,
        "verifications-0-method": VerificationMethod.PASSPORT_CHECK,
        "verifications-0-outcome": VerificationOutcome.PASSED,
        "payment_instruments-TOTAL_FORMS": "1",
        "payment_instruments-INITIAL_FORMS": "0",
        "payment_instruments-0-kind": "bank_card",
        "payment_instruments-0-bank_name": "Canarybank Qzxv",
        "payment_instruments-0-number": "6222 9753 1864 2468",
    }
    response = client.post("/admin/accounts/member/add/", data)
    assert response.status_code == 302, response.content.decode()[:4000]
    member = Member.objects.get(member_number="M555000001")
    assert member.institution.funding_sources == "Canaryfunds Qzxv"
    assert member.related_persons.get().email == "owner.qzxv@leak.example"
    assert member.verification_level == VerificationLevel.REAL_NAME  # raised by the service
    assert member.verifications.get().reviewer == compliance_officer

    change = _member_post(member, legal_name="Canarylegal Changed Qzxv", email="canary2.qzxv@leak.example")
    change.update({"institution-TOTAL_FORMS": "1", "institution-INITIAL_FORMS": "1",
                   "institution-0-id": str(member.institution.pk), "institution-0-member": str(member.pk),
                   "institution-0-legal_name": "Canarycorp Changed Qzxv",
                   "institution-0-registration_number": "CANARYREG-QZXV", "institution-0-business_phone": ""})
    response = client.post(f"/admin/accounts/member/{member.pk}/change/", change)
    assert response.status_code == 302, response.content.decode()[:4000]
    member.refresh_from_db()
    assert member.legal_name == "Canarylegal Changed Qzxv"
    assert member.institution.business_phone == "+852 9753 1864"  # empty replace input kept it

    entries = list(LogEntry.objects.values_list("object_repr", "change_message"))
    assert len(entries) == 2
    for object_repr, change_message in entries:
        text = f"{object_repr} {change_message}".lower()
        assert "qzxv" not in text and "9753" not in text and "1864" not in text
        assert "1933" not in text and "1944" not in text
    assert "qzxv" not in str(member).lower()
    for related in (member.institution, member.related_persons.get(), member.documents.get(),
                    member.payment_instruments.get(), member.verifications.get()):
        assert "qzxv" not in str(related).lower() and "9753" not in str(related)

    for url in ("/admin/accounts/member/", "/admin/accounts/relatedperson/", "/admin/accounts/identitydocument/",
                "/admin/accounts/paymentinstrument/", "/admin/accounts/institutionprofile/",
                f"/admin/accounts/member/{member.pk}/change/", f"/admin/accounts/member/{member.pk}/history/"):
        html = client.get(url).content.decode()
        urls = page_urls(html)
        assert urls, url
        for link in urls:
            lowered = link.lower()
            assert "qzxv" not in lowered and "9753" not in lowered and "leak.example" not in lowered, (url, link)
        for secret in ("canary.qzxv@leak.example", "canary2.qzxv", "owner.qzxv@leak.example", "9753 1864",
                       "97531864", "6222 9753", "1933-07-21", "1944-08-19"):
            assert secret not in html, (url, secret)


# --- Documents, verifications, reviews ------------------------------------------------------------
def test_pp06_document_number_error_names_the_rule(client, compliance_officer):
    member = MemberFactory()
    client.force_login(compliance_officer)
    bad = valid_cn_id(3)[:-1] + ("0" if valid_cn_id(3)[-1] != "0" else "1")
    response = client.post(
        "/admin/accounts/identitydocument/add/",
        {"member": member.pk, "kind": DocumentKind.NATIONAL_ID, "issuing_country": "CN", "number": bad},
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "number" in form.errors
    assert "PRC resident identity card number" in form.errors["number"][0]
    assert "check digit" in form.errors["number"][0]
    assert bad not in form.errors["number"][0]
    assert not IdentityDocument.objects.exists()


def test_document_review_actions_record_the_reviewer(client, compliance_officer):
    documents = IdentityDocumentFactory.create_batch(2)
    client.force_login(compliance_officer)
    response = client.post(
        "/admin/accounts/identitydocument/",
        {"action": "accept_documents", "_selected_action": [d.pk for d in documents]},
    )
    assert response.status_code == 302
    for document in documents:
        document.refresh_from_db()
        assert document.review_status == ReviewStatus.ACCEPTED
        assert document.reviewed_by == compliance_officer
        assert document.reviewed_at is not None
        assert document.history.latest().history_user == compliance_officer


def test_pp10_advanced_verification_must_be_by_face_recognition(client, compliance_officer):
    member = MemberFactory()
    client.force_login(compliance_officer)
    data = _member_post(member)
    data.update({
        "verifications-TOTAL_FORMS": "1",
        "verifications-0-level": VerificationLevel.ADVANCED,
        "verifications-0-method": VerificationMethod.PASSPORT_CHECK,
        "verifications-0-outcome": VerificationOutcome.PASSED,
    })
    response = client.post(f"/admin/accounts/member/{member.pk}/change/", data)
    assert response.status_code == 200
    assert "face recognition" in response.content.decode()
    assert not Verification.objects.exists()
    member.refresh_from_db()
    assert member.verification_level == VerificationLevel.NONE


def test_existing_verifications_are_not_editable(client, compliance_officer):
    verification = VerificationFactory(outcome=VerificationOutcome.PASSED)
    client.force_login(compliance_officer)
    html = client.get(f"/admin/accounts/member/{verification.member_id}/change/").content.decode()
    assert 'name="verifications-0-outcome"' not in html
    assert client.get(f"/admin/accounts/verification/{verification.pk}/change/").status_code == 200
    assert client.post(f"/admin/accounts/verification/{verification.pk}/change/", {}).status_code == 403


def test_related_person_documents_are_added_on_the_persons_page(client, compliance_officer):
    person = RelatedPersonFactory(email="owner.x@corp.example")
    client.force_login(compliance_officer)
    page = client.get(f"/admin/accounts/relatedperson/{person.pk}/change/")
    assert page.status_code == 200
    assert "owner.x@corp.example" not in page.content.decode()
    data = {
        "member": person.member_id, "role": person.role, "ownership_share": "25.00",
        "legal_name": person.legal_name, "local_name": "", "nationality": "SG",
        "date_of_birth": "", "email": "", "phone": "",
        "documents-TOTAL_FORMS": "1", "documents-INITIAL_FORMS": "0",
        "documents-0-kind": DocumentKind.PASSPORT, "documents-0-issuing_country": "SG",
        "documents-0-number": "K1234567",
    }
    response = client.post(f"/admin/accounts/relatedperson/{person.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    document = person.documents.get()
    assert document.member_id == person.member_id
    person.refresh_from_db()
    assert person.email == "owner.x@corp.example"


def test_changelists_do_not_count_whole_tables(client, compliance_officer, member):
    """Members, devices, transactions and the access log count at most a few pages (LIMIT)."""
    client.force_login(compliance_officer)
    for url in ("/admin/accounts/member/", "/admin/accounts/devicerecord/", "/admin/accounts/transactionrecord/",
                "/admin/accounts/sensitiveaccesslog/", "/admin/accounts/member/?needs_advanced=yes"):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
        assert counts, url
        for sql in counts:
            assert "LIMIT" in sql.upper(), (url, sql)


def test_a_capped_count_says_more_than(client, compliance_officer, monkeypatch):
    from accounts.members.admin.members import MemberAdmin
    from accounts.privacy.large_tables import BoundedCountPaginator

    MemberFactory.create_batch(5)
    client.force_login(compliance_officer)
    monkeypatch.setattr(MemberAdmin, "list_per_page", 1)
    # Page 1 plus 10 pages ahead covers all 5 rows: the count is exact.
    html = re.sub(r"\s+", " ", client.get("/admin/accounts/member/").content.decode())
    assert "5 members" in html and "more than" not in html
    # Page 1 plus 2 pages ahead: 3 rows counted, more exist.
    monkeypatch.setattr(BoundedCountPaginator, "lookahead_pages", 2)
    html = re.sub(r"\s+", " ", client.get("/admin/accounts/member/").content.decode())
    assert "more than 3 members" in html
    # Paging on reaches the rest: page 5 counts up to 7 rows and finds all 5.
    html = re.sub(r"\s+", " ", client.get("/admin/accounts/member/?p=5").content.decode())
    assert "5 members" in html and "more than" not in html


def test_member_search_box_posts_with_csrf_and_keeps_popup_parameters(client, compliance_officer, member):
    client.force_login(compliance_officer)
    html = client.get("/admin/accounts/member/?_popup=1&_to_field=id").content.decode()
    form = re.search(r'<form id="changelist-search"[^>]*>', html).group(0)
    assert 'method="post"' in form and 'action="/admin/accounts/member/search/"' in form
    assert 'name="csrfmiddlewaretoken"' in html
    location = _search(client, member.member_number, _popup="1", _to_field="id")["Location"]
    assert "_popup=1" in location and "_to_field=id" in location and "qs=" in location
    assert member.member_number in client.get(location).content.decode()


def test_transaction_search_by_order_number_keeps_it_out_of_urls(client, compliance_officer):
    wanted = TransactionRecordFactory(order_number="ORD-SEARCH-7781")
    other = TransactionRecordFactory()
    client.force_login(compliance_officer)
    response = client.post("/admin/accounts/transactionrecord/search/", {"q": "ORD-SEARCH-7781"})
    assert response.status_code == 302 and "7781" not in response["Location"]
    html = client.get(response["Location"]).content.decode()
    assert "ORD-SEARCH-7781" in html and other.order_number not in html
    assert wanted.member.member_number in html
    assert all("7781" not in url for url in page_urls(html))


@pytest.mark.parametrize("model", ["devicerecord", "transactionrecord", "verification"])
def test_imported_and_append_only_records_are_read_only_even_for_superusers(client, superuser, member, model):
    obj = {"devicerecord": member.device_records, "transactionrecord": member.transactions,
           "verification": member.verifications}[model].get()
    client.force_login(superuser)
    assert client.get(f"/admin/accounts/{model}/add/").status_code == 403
    assert client.post(f"/admin/accounts/{model}/{obj.pk}/change/", {}).status_code == 403
    assert client.get(f"/admin/accounts/{model}/{obj.pk}/delete/").status_code == 403
    assert client.get(f"/admin/accounts/{model}/{obj.pk}/change/").status_code == 200


def test_pp25_every_accounts_admin_with_sensitive_fields_masks_them():
    """A new admin (or inline) for a model with sensitive fields must use the masking mixin."""
    from django.contrib import admin

    from accounts.privacy import datamap
    from accounts.privacy.admin_mixins import SensitiveFieldsMixin

    checked = 0
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "accounts":
            continue
        inlines = [inline(model, admin.site) for inline in model_admin.inlines]
        for candidate in [model_admin, *inlines]:
            if datamap.sensitive_fields(candidate.model):
                assert isinstance(candidate, SensitiveFieldsMixin), type(candidate).__name__
                checked += 1
    assert checked >= 10
