"""Issue 3, requirement 9: every changelist and change page of the member admins runs a bounded
number of queries, the same with 3 rows as with 30."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.members.choices import VerificationOutcome
from accounts.models import ProductLine, SensitiveAccessLog
from tests.factories import (
    DeviceRecordFactory,
    IdentityDocumentFactory,
    InstitutionFactory,
    InstitutionProfileFactory,
    MemberFactory,
    PaymentInstrumentFactory,
    RelatedPersonFactory,
    StaffUserFactory,
    TransactionRecordFactory,
    VerificationFactory,
)

pytestmark = pytest.mark.django_db

SMALL, LARGE = 3, 30


def _members(n):
    members = MemberFactory.create_batch(n)
    lines = [ProductLine.objects.get_or_create(code=f"line{i}", defaults={"name": f"Line {i}"})[0] for i in range(3)]
    for member in members:
        member.product_lines.set(lines)
    return members


def _documents(n):
    reviewer = StaffUserFactory()
    return [IdentityDocumentFactory(reviewed_by=reviewer, related_person=None) for _ in range(n)]


def _access_log(n):
    staff = StaffUserFactory()
    return [
        SensitiveAccessLog.objects.create(
            staff_user=staff, action="reveal", member_number=f"M{i}", model_label="accounts.Member",
            object_id=str(i), field_name="email", reason="ticket check",
        )
        for i in range(n)
    ]


def _product_lines(n):
    start = ProductLine.objects.count()
    return [ProductLine.objects.create(code=f"code{i}", name=f"Line {i}") for i in range(start, start + n)]


@dataclass(frozen=True)
class Page:
    model: str
    make: Callable[[int], list]
    #: Most queries a page of this admin may run (session, user, permissions, count, rows, filters…).
    changelist_max: int
    change_max: int


# Measured: session, user, the user's permissions (2), then the page's own queries. A page over
# its bound, or different with 3 and 30 rows, has grown a query per row.
PAGES = [
    # + product-line filter choices, bounded count, rows | + member, selected product lines, records links
    Page("member", _members, 7, 11),  # change page: + the other apps' panel (processing on grounds, PP-17)
    Page("relatedperson", lambda n: RelatedPersonFactory.create_batch(n), 7, 7),
    Page("institutionprofile", lambda n: InstitutionProfileFactory.create_batch(n), 7, 7),
    Page("identitydocument", _documents, 7, 6),
    Page("verification", lambda n: VerificationFactory.create_batch(n, reviewer=StaffUserFactory()), 7, 7),
    Page("paymentinstrument", lambda n: PaymentInstrumentFactory.create_batch(n), 7, 6),
    Page("devicerecord", lambda n: DeviceRecordFactory.create_batch(n), 6, 6),
    Page("transactionrecord", lambda n: TransactionRecordFactory.create_batch(n), 6, 6),
    Page("productline", _product_lines, 7, 5),
    Page("sensitiveaccesslog", _access_log, 6, 6),
]


def _warm(client, url: str) -> None:
    """Process-wide caches (content types) fill on the first page of a test: that is not per row."""
    client.get(url)


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


@pytest.mark.parametrize("page", PAGES, ids=[p.model for p in PAGES])
@pytest.mark.parametrize("role", ["compliance_officer", "auditor", "superuser"])
def test_changelist_queries_do_not_grow_with_rows(client, request, django_assert_max_num_queries, page, role):
    client.force_login(request.getfixturevalue(role))
    url = f"/admin/accounts/{page.model}/"
    page.make(SMALL)
    _warm(client, url)
    with django_assert_max_num_queries(page.changelist_max):
        small = _count(client, url)
    page.make(LARGE - SMALL)
    with django_assert_max_num_queries(page.changelist_max):
        large = _count(client, url)
    assert small == large


@pytest.mark.parametrize("page", PAGES, ids=[p.model for p in PAGES])
@pytest.mark.parametrize("role", ["compliance_officer", "auditor", "superuser"])
def test_change_page_queries_do_not_grow_with_rows(client, request, django_assert_max_num_queries, page, role):
    client.force_login(request.getfixturevalue(role))
    first = page.make(SMALL)[0]
    url = f"/admin/accounts/{page.model}/{first.pk}/change/"
    _warm(client, url)
    with django_assert_max_num_queries(page.change_max):
        small = _count(client, url)
    page.make(LARGE - SMALL)
    with django_assert_max_num_queries(page.change_max):
        large = _count(client, url)
    assert small == large


def _member_with_records(n: int, *, institution: bool):
    member = InstitutionFactory() if institution else MemberFactory()
    reviewer = StaffUserFactory()
    persons = RelatedPersonFactory.create_batch(n, member=member) if institution else []
    for i in range(n):
        IdentityDocumentFactory(member=member, reviewed_by=reviewer, related_person=persons[i] if persons else None)
        PaymentInstrumentFactory(member=member)
        VerificationFactory(member=member, reviewer=reviewer, outcome=VerificationOutcome.PASSED)
        DeviceRecordFactory(member=member)
        TransactionRecordFactory(member=member)
    return member


# 4 as above, the member, its selected product lines, one query per inline (3 for individuals,
# 5 for institutions), one for the panel consents registers (processing on legal grounds, PP-17);
# devices and transactions are links, not inlines.
MEMBER_PAGE_MAX = 12


@pytest.mark.parametrize("institution", [False, True], ids=["individual", "institution"])
@pytest.mark.parametrize("role", ["compliance_officer", "auditor", "agent"])
def test_member_change_page_with_many_inline_rows_runs_the_same_queries(
    client, request, django_assert_max_num_queries, institution, role
):
    client.force_login(request.getfixturevalue(role))
    small = _member_with_records(SMALL, institution=institution)
    large = _member_with_records(LARGE, institution=institution)
    _warm(client, f"/admin/accounts/member/{small.pk}/change/")
    with django_assert_max_num_queries(MEMBER_PAGE_MAX):
        small_count = _count(client, f"/admin/accounts/member/{small.pk}/change/")
    with django_assert_max_num_queries(MEMBER_PAGE_MAX):
        large_count = _count(client, f"/admin/accounts/member/{large.pk}/change/")
    assert small_count == large_count


def test_related_person_page_with_many_documents_runs_the_same_queries(
    client, compliance_officer, django_assert_max_num_queries
):
    client.force_login(compliance_officer)
    counts = []
    for n in (SMALL, LARGE):
        person = RelatedPersonFactory()
        reviewer = StaffUserFactory()
        IdentityDocumentFactory.create_batch(n, member=person.member, related_person=person, reviewed_by=reviewer)
        _warm(client, f"/admin/accounts/relatedperson/{person.pk}/change/")
        with django_assert_max_num_queries(8):
            counts.append(_count(client, f"/admin/accounts/relatedperson/{person.pk}/change/"))
    assert counts[0] == counts[1]


def test_member_history_page_queries_do_not_grow_with_versions(client, compliance_officer):
    client.force_login(compliance_officer)
    counts = []
    for n in (SMALL, LARGE):
        member = MemberFactory()
        for i in range(n):
            member.legal_name = f"Name {i}"
            member.save()
        _warm(client, f"/admin/accounts/member/{member.pk}/history/")
        counts.append(_count(client, f"/admin/accounts/member/{member.pk}/history/"))
    assert counts[0] == counts[1]


def test_filtered_and_searched_member_lists_stay_bounded(client, compliance_officer, django_assert_max_num_queries):
    client.force_login(compliance_officer)
    members = _members(LARGE)
    token_url = client.post("/admin/accounts/member/search/", {"q": members[0].email})["Location"]
    for url in (
        "/admin/accounts/member/?needs_advanced=yes",
        "/admin/accounts/member/?kind__exact=individual&status__exact=active",
        f"/admin/accounts/member/?product_lines__id__exact={ProductLine.objects.first().pk}",
        token_url,
        f"/admin/accounts/devicerecord/?member__id__exact={members[0].pk}",
        f"/admin/accounts/transactionrecord/?member__id__exact={members[0].pk}",
    ):
        with django_assert_max_num_queries(8):
            _count(client, url)
