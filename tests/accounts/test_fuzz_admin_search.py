"""Issue 12, requirement 6: fuzzed admin search terms never break a changelist nor leak the term.

Random and hostile terms (SQL-ish text, ``%`` and ``_``, NUL and other control characters, right-to-left
and astral characters, very long strings) go through the member search (POST, then the changelist
it redirects to) and the plain ``?q=`` search of the other record changelists, as a signed-in
compliance officer. Every answer is 200 or a redirect, never a 500; the term never appears in a
redirect URL (PP-25: search terms stay out of URLs and logs); nothing but the session is written.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import IdentityDocument, Member, SensitiveAccessLog, TransactionRecord
from tests import fuzzing
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

#: Changelists searched with a plain ``?q=`` (exact-value fields by member or order number).
OTHER_CHANGELISTS = (
    "/admin/accounts/identitydocument/",
    "/admin/accounts/transactionrecord/",
    "/admin/accounts/devicerecord/",
    "/admin/accounts/paymentinstrument/",
    "/admin/accounts/staffuser/",
    "/admin/requests_desk/request/",
    "/admin/consents/consentevent/",
)

HOSTILE = st.sampled_from([
    "%", "_", "%%", "\\", "'", "\"", "' OR 1=1 --", "'; DROP TABLE accounts_member; --", "M%", "M_00",
    "\x00", "M0\x00", "\u202eM000", "王芳", "Wang Fang", "😀" * 50, "a" * 5000, " ", "\t\n", "\ufeff",
    "=", "^", "@", "+86 139", "m", "M000000001", "x@y.example",
])
TERMS = st.one_of(
    HOSTILE,
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.builds(lambda a, b: a + b, HOSTILE, st.text(max_size=30)),
)


def _counts() -> tuple[int, ...]:
    return (Member.objects.count(), IdentityDocument.objects.count(), TransactionRecord.objects.count(),
            SensitiveAccessLog.objects.count())


@pytest.fixture
def signed_in(client, compliance_officer):
    MemberFactory.create_batch(3)
    client.force_login(compliance_officer)
    return client


@fuzzing.fuzz
@given(term=TERMS, other=st.sampled_from(OTHER_CHANGELISTS))
def test_pp25_any_search_term_gets_a_page_not_an_error_and_stays_out_of_urls(signed_in, term, other):
    before = _counts()
    response = signed_in.post("/admin/accounts/member/search/", {"q": term})
    assert response.status_code in (200, 302), response.status_code
    stripped = term.strip()
    if response.status_code == 302:
        location = response["Location"]
        # The term is swapped for a random token (``qs``): no other parameter may carry it.
        params = {key: values for key, values in parse_qs(urlsplit(location).query).items() if key != "qs"}
        assert "q" not in params
        if stripped:
            assert all(stripped.lower() not in unquote_plus(value).lower()
                       for values in params.values() for value in values), location
        page = signed_in.get(location)
        assert page.status_code == 200, page.status_code
        if "\x00" in stripped:
            assert "cannot contain a NUL character" in page.content.decode()
    listing = signed_in.get(other, {"q": term})
    if "\x00" in term:
        # PostgreSQL text cannot hold NUL: refused up front with the parameter named, on both databases.
        assert listing.status_code == 400, (other, listing.status_code)
        assert "NUL character in the parameter “q”" in listing.content.decode()
    else:
        assert listing.status_code in (200, 302), (other, listing.status_code)
    assert _counts() == before


@pytest.mark.parametrize("path", ("/admin/accounts/member/", *OTHER_CHANGELISTS, "/admin/retention/legalhold/"))
@pytest.mark.parametrize("params", ({"q": "M0\x00"}, {"status\x00": "x"}, {"o": "1", "member__id__exact": "\x00"}))
def test_pp25_a_nul_in_any_search_or_filter_is_a_clear_400_not_a_database_error(signed_in, path, params):
    listing = signed_in.get(path, params)
    assert listing.status_code == 400
    body = listing.content.decode()
    assert "holds a NUL character in the parameter" in body and "Nothing was changed" in body
    assert "M0" not in body  # the value is never echoed
