"""Issue 16, requirement 6: staff find a member by name, in either script (accounts.members.names).

Partial, case- and accent-insensitive, Chinese characters included, next to the exact-value search;
related persons' and institutions' names find their member; constant queries; the searched name
stays out of URLs; on PostgreSQL the trigram index serves the lookup.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from urllib.parse import unquote_plus

import pytest
from django.apps import apps as django_apps
from django.db import connection

from accounts.members.names import name_search_key, name_search_q
from accounts.members.selectors import members_by_name
from accounts.members.spreadsheets.writes import records_bulk_save
from accounts.models import InstitutionProfile, Member, RelatedPerson
from retention.choices import ErasureTrigger
from retention.erasure import runner
from tests.factories import InstitutionFactory, MemberFactory, RelatedPersonFactory
from tests.retention.erasure_seed import seed_member

pytestmark = pytest.mark.django_db

name_search_migration = importlib.import_module("accounts.migrations.0015_name_search")


def _found(client, term: str, model: str = "member") -> str:
    """The changelist after searching ``term`` through the search box (which posts: no name in the URL)."""
    response = client.post(f"/admin/accounts/{model}/search/", {"q": term})
    assert response.status_code == 302
    location = response["Location"]
    assert term.lower() not in unquote_plus(location).lower()
    page = client.get(location)
    assert page.status_code == 200
    return page.content.decode()


@pytest.fixture
def people():
    return {
        "wang_fang": MemberFactory(member_number="M000900101", legal_name="Wang Fang", local_name="王芳"),
        "li_fang": MemberFactory(member_number="M000900102", legal_name="Li Fang", local_name="李芳"),
        "wang_lei": MemberFactory(member_number="M000900103", legal_name="Wang Lei", local_name="王磊"),
        "accented": MemberFactory(member_number="M000900104", legal_name="Wáng Fāng", local_name=""),
        "zhang_wei": MemberFactory(member_number="M000900105", legal_name="Zhang Wei", local_name="张伟"),
    }


def _numbers(html: str, people: dict) -> set[str]:
    return {key for key, member in people.items() if member.member_number in html}


def test_a_chinese_full_name_finds_the_member_and_only_them(client, compliance_officer, people):
    client.force_login(compliance_officer)
    assert _numbers(_found(client, "王芳"), people) == {"wang_fang"}


def test_a_single_chinese_character_finds_every_name_holding_it(client, compliance_officer, people):
    client.force_login(compliance_officer)
    assert _numbers(_found(client, "芳"), people) == {"wang_fang", "li_fang"}
    assert _numbers(_found(client, "王"), people) == {"wang_fang", "wang_lei"}
    # Consecutive characters, in order: not the same characters in another name or order.
    assert _numbers(_found(client, "芳王"), people) == set()


def test_a_latin_name_is_found_whole_partial_in_any_case_and_order(client, compliance_officer, people):
    client.force_login(compliance_officer)
    both = {"wang_fang", "accented"}  # "Wáng Fāng" is the same name without its tones
    assert _numbers(_found(client, "Wang Fang"), people) == both
    assert _numbers(_found(client, "wang"), people) == both | {"wang_lei"}
    assert _numbers(_found(client, "WAN"), people) == both | {"wang_lei"}
    assert _numbers(_found(client, "fang wang"), people) == both
    assert _numbers(_found(client, "wangfang"), people) == both  # spaces optional


def test_accents_are_ignored_in_the_name_and_in_the_search(client, compliance_officer, people):
    client.force_login(compliance_officer)
    assert _numbers(_found(client, "wáng fāng"), people) == {"wang_fang", "accented"}
    assert _numbers(_found(client, "Wáng"), people) == {"wang_fang", "accented", "wang_lei"}
    assert _numbers(_found(client, "ＷＡＮＧ　ＦＡＮＧ"), people) == {"wang_fang", "accented"}  # noqa: RUF001 (full width)


def test_the_exact_value_and_member_number_searches_still_work(client, compliance_officer, people):
    client.force_login(compliance_officer)
    assert _numbers(_found(client, "M000900101"), people) == {"wang_fang"}
    email = people["li_fang"].email
    assert _numbers(_found(client, email), people) == {"li_fang"}


def test_a_related_persons_name_finds_the_institution(client, compliance_officer, people):
    person = RelatedPersonFactory(legal_name="Chen Jing", local_name="陈静")
    other = RelatedPersonFactory(legal_name="Liu Yang", local_name="刘洋")
    client.force_login(compliance_officer)
    for term in ("陈静", "chen jing", "Chén"):
        html = _found(client, term)
        assert person.member.member_number in html and other.member.member_number not in html, term


def test_an_institutions_name_finds_the_institution(client, compliance_officer, people):
    institution = InstitutionFactory(profile__legal_name="Xinghe Digital Technology Co., Ltd.",
                                     profile__local_name="北京星河数字科技有限公司")
    other = InstitutionFactory(profile__legal_name="Harbour Trading Ltd", profile__local_name="")
    client.force_login(compliance_officer)
    for term in ("星河", "xinghe", "digital tech"):
        html = _found(client, term)
        assert institution.member_number in html and other.member_number not in html, term


def test_related_persons_and_institution_profiles_are_found_by_name_on_their_own_pages(client, compliance_officer):
    person = RelatedPersonFactory(legal_name="Chen Jing", local_name="陈静")
    other_person = RelatedPersonFactory(legal_name="Liu Yang", local_name="刘洋")
    institution = InstitutionFactory(profile__legal_name="Xinghe Digital", profile__local_name="星河数字")
    client.force_login(compliance_officer)
    html = _found(client, "静", model="relatedperson")
    assert person.member.member_number in html and other_person.member.member_number not in html
    html = _found(client, "星河", model="institutionprofile")
    assert institution.member_number in html and other_person.member.member_number not in html
    # The exact member number still finds the person.
    assert person.member.member_number in _found(client, person.member.member_number, model="relatedperson")


def test_a_name_search_runs_the_same_number_of_queries_for_few_or_many_matches(
    client, compliance_officer, django_assert_max_num_queries
):
    client.force_login(compliance_officer)
    MemberFactory.create_batch(2, legal_name="Wang Fang", local_name="王芳")
    location = client.post("/admin/accounts/member/search/", {"q": "王芳"})["Location"]
    with django_assert_max_num_queries(50) as few:
        client.get(location)
    MemberFactory.create_batch(40, legal_name="Wang Fang", local_name="王芳")
    RelatedPersonFactory.create_batch(5, local_name="王芳")
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(location).content.decode()
    assert html.count('name="_selected_action"') == 42 + 5  # every match on the page, none left out


def test_names_without_letters_or_e_mails_are_not_searched_as_names():
    assert name_search_q("+86 138 0013 8000") is None
    assert name_search_q("wang.fang@example.com") is None
    assert name_search_q("  ") is None


def test_the_search_column_follows_saves_bulk_inserts_and_bulk_updates():
    member = MemberFactory(legal_name="Zhou Min", local_name="周敏")
    assert member.name_search == " zhou min / zhoumin / 周 敏 "
    Member.objects.bulk_create([Member(member_number="M000900199", legal_name="Sun Li", local_name="孙丽")])
    assert Member.objects.get(member_number="M000900199").name_search == " sun li / sunli / 孙 丽 "
    member.legal_name, member.local_name = "Zhao Min", "赵敏"
    records_bulk_save(model=Member, new_objs=[], changed_objs=[member], update_fields=["legal_name", "local_name"])
    assert list(members_by_name("赵敏")) == [member]
    assert not members_by_name("周敏").exists()
    # The audit history keeps the names themselves, not a second copy of them.
    assert "name_search" not in {f.name for f in Member.history.model._meta.fields}


def test_the_migration_fills_the_column_of_existing_rows():
    member = MemberFactory(legal_name="Wu Hao", local_name="吴昊")
    person = RelatedPersonFactory(legal_name="Guo Jing", local_name="郭靖")
    Member.objects.update(name_search="")
    RelatedPerson.objects.update(name_search="")
    InstitutionProfile.objects.update(name_search="")
    # The fill only needs the editor's connection (a real editor cannot open inside the test's transaction on SQLite).
    name_search_migration._fill(django_apps, SimpleNamespace(connection=connection))
    assert list(members_by_name("吴昊")) == [member]
    assert list(members_by_name("guo")) == [person.member]
    assert InstitutionProfile.objects.get(member=person.member).name_search == name_search_key(
        person.member.institution.legal_name, ""
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index exists on PostgreSQL")
@pytest.mark.parametrize("term", ["王芳", "芳", "wang", "wangfang"])
def test_postgresql_answers_a_name_search_with_the_trigram_index(term):
    MemberFactory.create_batch(3, legal_name="Wang Fang", local_name="王芳")
    for model, index in ((Member, "accounts_member_name_trgm"), (RelatedPerson, "accounts_relatedperson_name_trgm"),
                         (InstitutionProfile, "accounts_institutionprofile_name_trgm")):
        with connection.cursor() as cursor:
            # Only the filter's index is in question: no ordering, and neither a table scan nor a plain
            # index walk (the planner may otherwise walk member_id's index on a near-empty table).
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_indexscan = off")
            plan = model.objects.filter(name_search_q(term)).order_by().explain()
        assert index in plan, plan


def test_pp02_an_erased_member_is_no_longer_found_by_name(django_capture_on_commit_callbacks, superuser):
    """Erasure empties the search column with the names (data map: SET_NULL; PP-02)."""
    seeded = seed_member(institution=True, staff=superuser)
    member = Member.objects.get(pk=seeded.member.pk)
    Member.objects.filter(pk=member.pk).update(name_search=name_search_key("Wang Fang", "王芳"))
    assert list(members_by_name("王芳")) == [member]
    with django_capture_on_commit_callbacks(execute=True):
        runner.erase_members(member_ids=[member.pk], trigger=ErasureTrigger.CANCELLATION)
    assert Member.objects.get(pk=member.pk).name_search == ""
    assert not members_by_name("王芳").exists()
