"""Issue 16, requirement 1, for the accounts app: every string of ours reads in Simplified Chinese.

The accounts catalogue (``accounts/locale/zh_Hans/LC_MESSAGES/django.po``, compiled ``.mo`` committed
next to it) covers models, choices, validators, import problems, admin actions, sign-in pages and the
data map. The catalogue tests fail on an empty or fuzzy entry, on a ``.mo`` out of step with its
``.po``, and on a string marked in ``accounts/`` that ``makemessages`` would add (needs GNU gettext).
English stays the default (``LANGUAGE_CODE = "en"``): the rest of the suite reads English texts.
"""

# Chinese texts use full-width punctuation (commas, colons, brackets) on purpose.
from __future__ import annotations

import gettext
import re
import shutil
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import translation

from accounts.members.choices import DocumentKind, MemberStatus
from accounts.members.spreadsheets import imports
from accounts.members.spreadsheets.members import MemberResource
from accounts.members.validators import validate_document_number
from accounts.models import IdentityDocument, Member, ProductLine
from accounts.staff.security import LAST_SEEN_KEY, LOGIN_AT_KEY, session_end_reason
from tests.catalogue_check import makemessages_in_copy
from tests.factories import IdentityDocumentFactory, MemberFactory
from tests.po import Entry, read_po

ACCOUNTS = Path(__file__).resolve().parents[2] / "accounts"
PO = ACCOUNTS / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
SOURCE = "Acme Payments Ltd, data-sharing agreement DSA-2025-07"
# A PRC resident ID whose check digit is wrong (the right one for this number is 5).
BAD_PRC_ID = "110101199003074510"


# --- Screens and messages in zh-Hans ------------------------------------------------------------
def test_member_model_names_field_names_and_choices_read_in_chinese():
    with translation.override("zh-hans"):
        assert str(Member._meta.verbose_name) == "会员"
        assert str(Member._meta.verbose_name_plural) == "会员"
        assert str(Member._meta.get_field("legal_name").verbose_name) == "法定全名"
        assert str(Member._meta.get_field("date_of_birth").verbose_name) == "出生日期"
        assert str(MemberStatus.CANCELLATION_REQUESTED.label) == "已申请注销"
        assert str(DocumentKind.NATIONAL_ID.label) == "居民身份证"
        assert str(Member._meta.app_config.verbose_name) == "会员与员工"
    # The English default is untouched.
    assert str(Member._meta.verbose_name) == "member"


def test_pp06_an_invalid_prc_id_is_refused_in_chinese_naming_the_rule_and_the_reason():
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        validate_document_number(kind=DocumentKind.NATIONAL_ID, country="CN", number=BAD_PRC_ID)
    assert refused.value.message_dict["number"] == ["不是有效的中华人民共和国居民身份证号码（GB 11643）：校验码不符。"]
    with pytest.raises(ValidationError) as english:
        validate_document_number(kind=DocumentKind.NATIONAL_ID, country="CN", number=BAD_PRC_ID)
    assert english.value.message_dict["number"] == [
        "Not a valid PRC resident identity card number (GB 11643): the check digit does not match."
    ]


@pytest.mark.django_db
def test_pp16_an_import_problem_reads_in_chinese_with_its_line_and_column_kept():
    ProductLine.objects.create(code="spot", name="Spot")
    content = (
        b"member_number,kind,status,email,product_lines\n"
        b"M000000001,individual,active,p1@mail.example,spot\n"
        b"M000000002,individual,active,not-an-address,spot\n"
    )
    with translation.override("zh-hans"):
        dataset = imports.dataset_from_file(content=content, file_name="members.csv")
        report = imports.records_import(resource_class=MemberResource, dataset=dataset, source=SOURCE)
        problems = [str(problem) for problem in report.problems]
    assert problems == ["第 3 行，列 email：请输入有效的电子邮箱地址。"]
    assert not Member.objects.exists()  # all or nothing, in any language


@pytest.mark.django_db
def test_a_missing_import_source_is_refused_in_chinese():
    with translation.override("zh-hans"):
        report = imports.records_import(
            resource_class=MemberResource,
            dataset=imports.dataset_from_file(content=b"member_number\nM000000001\n", file_name="m.csv"),
            source="",
        )
        messages = [str(problem) for problem in report.problems]
    assert len(messages) == 1 and "请注明数据来源" in messages[0] and "PP-16" in messages[0]


def test_admin_actions_are_described_in_chinese():
    document_admin = admin.site._registry[IdentityDocument]
    with translation.override("zh-hans"):
        assert str(document_admin.accept_documents.short_description) == "通过所选证件"
        assert str(document_admin.reject_documents.short_description) == "驳回所选证件"


def test_a_session_timeout_is_explained_in_chinese(settings):
    settings.SESSION_IDLE_TIMEOUT = 15 * 60
    with translation.override("zh-hans"):
        ended = session_end_reason({}, now=3600)
        idle = session_end_reason({LOGIN_AT_KEY: 3000, LAST_SEEN_KEY: 2000}, now=3600)
    assert ended == "您的会话已结束。请重新登录。"
    assert idle == "您已闲置 15 分钟，已被登出。请重新登录。"


@pytest.mark.django_db
def test_a_chinese_browser_gets_the_documents_changelist_in_chinese(client, compliance_officer):
    """LocaleMiddleware + Accept-Language: our names and actions beside Django's own Chinese admin."""
    IdentityDocumentFactory(member=MemberFactory())
    client.force_login(compliance_officer)
    page = client.get("/admin/accounts/identitydocument/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert "通过所选证件" in page  # our action
    assert "身份证件" in page  # our verbose name
    assert "会员与员工" in page  # our app name (breadcrumbs)
    english = client.get("/admin/accounts/identitydocument/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Accept the selected documents" in english and "通过所选证件" not in english


@pytest.mark.django_db
def test_pp42_the_data_map_page_shows_our_labels_in_chinese(client, auditor):
    client.force_login(auditor)
    page = client.get("/admin/accounts/data-map/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "法定全名" in page  # a field's label (the member's legal full name)
    assert "身份" in page  # a category (Category.IDENTITY)
    assert "按法定期限保存，之后假名化" in page  # an erasure rule (Erasure.RETAIN_THEN_PSEUDONYMISE)
    with translation.override("en"):
        english = client.get("/admin/accounts/data-map/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Legal full name" in english and "法定全名" not in english


# --- The catalogue --------------------------------------------------------------------------------
def _po_entries(path: Path) -> list[Entry]:
    """The catalogue's live entries (``tests.po`` reads them; obsolete ones are not the catalogue)."""
    return [entry for entry in read_po(path) if not entry.obsolete]


def _translations(entry: Entry) -> list[str]:
    return [entry.msgstr] if entry.msgid_plural is None else list(entry.msgstr_plural.values())


def test_the_accounts_catalogue_has_no_empty_or_fuzzy_entry():
    entries = _po_entries(PO)
    assert len(entries) > 400  # every string of ours, not a sample
    header = [e for e in entries if e.msgid == ""]
    assert header and "Plural-Forms: nplurals=1; plural=0;" in header[0].msgstr
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    empty = [e.msgid for e in entries if e.msgid and not e.translated]
    assert (fuzzy, empty) == ([], [])


def test_placeholders_survive_translation():
    for entry in _po_entries(PO):
        if not entry.msgid:
            continue
        for translated in _translations(entry):
            for pattern in (r"%\(\w+\)[sd]", r"\{\w+\}"):
                assert sorted(re.findall(pattern, entry.msgid)) == sorted(re.findall(pattern, translated)), (
                    entry.msgid
                )


def test_the_committed_mo_matches_the_po():
    """A fresh clone has no GNU gettext: the compiled catalogue it runs on must be this .po's."""
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in _po_entries(PO):
        if not entry.msgid:
            continue
        if entry.msgid_plural is not None:
            assert compiled.ngettext(entry.msgid, entry.msgid_plural, 1) == entry.msgstr_plural[0]
        else:
            assert compiled.gettext(entry.msgid) == entry.msgstr, entry.msgid


@pytest.mark.skipif(not shutil.which("xgettext"), reason="makemessages needs GNU gettext")
def test_makemessages_finds_no_string_of_accounts_missing_from_the_catalogue(tmp_path, monkeypatch):
    fresh = _po_entries(makemessages_in_copy("accounts", tmp_path, monkeypatch))
    known = {e.msgid for e in _po_entries(PO)}
    new = sorted(e.msgid for e in fresh if e.msgid not in known)
    untranslated = sorted(e.msgid for e in fresh if e.msgid and (not e.translated or "fuzzy" in e.flags))
    assert (new, untranslated) == ([], [])
