
"""The consents app in Simplified Chinese (issue 16, requirements 1, 3 and 4; PP-17, PP-40)."""

from __future__ import annotations

import shutil

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from consents.admin.policy import PolicyVersionAdmin
from consents.choices import MAJOR_CHANGE_KINDS, ChangeKind, GroundUse
from consents.models import LegalGround, PolicyVersion, Purpose
from tests.catalogue_check import catalogue, entries, makemessages_in_copy

# The policy's eleven grounds (I(V)3) in the standard Chinese legal wording (GB/T 35273 / 个人信息保护法).
ELEVEN = {
    "consent-national-security": "与国家安全、国防安全直接相关的",
    "consent-public-safety": "与公共安全、公共卫生、重大公共利益直接相关的",
    "consent-law-enforcement": "与犯罪侦查、起诉、审判和判决执行等",
    "consent-vital-interests": "出于维护个人信息主体或其他个人的生命、财产等重大合法权益但又很难得到本人同意的",
    "consent-self-disclosed": "所收集的个人信息是个人信息主体自行向社会公众公开的",
    "consent-lawfully-public": "从合法公开披露的信息中收集个人信息的，如合法的新闻报道、政府信息公开等渠道",
    "consent-contract": "根据您的要求签订和履行合同所必需的",
    "consent-safe-operation": "用于维护所提供的产品或服务的安全稳定运行所必需的",
    "consent-news-reporting": "为新闻单位开展合法的新闻报道所必需的",
    "consent-research": "学术研究机构基于公共利益开展统计或学术研究所必要",
    "consent-other-law": "法律法规规定的其他情形",
}


@pytest.mark.django_db
def test_pp17_the_eleven_grounds_read_in_the_policys_chinese_wording():
    grounds = LegalGround.objects.filter(use=GroundUse.CONSENT_EXCEPTION)
    assert {g.code for g in grounds} == set(ELEVEN)
    with translation.override("zh-hans"):
        for ground in grounds:
            assert ELEVEN[ground.code] in ground.wording_text, ground.code
            assert ELEVEN[ground.code] in str(ground)
    with translation.override("en"):
        national = grounds.get(code="consent-national-security")
        assert national.wording_text == "Related to national security and national defense security"


@pytest.mark.django_db
def test_pp35_pp36_every_ground_of_the_catalogue_has_a_chinese_wording():
    with translation.override("zh-hans"):
        untranslated = [g.code for g in LegalGround.objects.all() if g.wording_text == g.wording]
    assert untranslated == []


def test_pp40_the_six_major_change_kinds_read_in_chinese():
    six = {
        ChangeKind.SERVICE_MODEL: "服务模式发生重大变化",
        ChangeKind.CONTROLLER: "所有权结构、组织架构等方面发生重大变化",
        ChangeKind.RECIPIENTS: "个人信息共享、转让或公开披露的主要对象发生变化",
        ChangeKind.RIGHTS: "参与个人信息处理方面的权利及其行使方式发生重大变化",
        ChangeKind.CONTACT: "负责处理个人信息安全的责任部门、联络方式及投诉渠道发生变化",
        ChangeKind.HIGH_RISK: "个人信息安全影响评估报告表明存在高风险",
    }
    assert set(six) == MAJOR_CHANGE_KINDS - {ChangeKind.NARROWS_RIGHT}
    with translation.override("zh-hans"):
        for kind, words in six.items():
            assert words in str(kind.label)
        assert "明示同意" in str(ChangeKind.NARROWS_RIGHT.label)
    assert str(ChangeKind.RIGHTS.label) == "Members' rights or how to exercise them changed"


@pytest.mark.django_db
def test_policy_purposes_show_in_chinese_to_a_chinese_speaking_officer():
    purpose = Purpose.objects.get(code="marketing-sms")
    with translation.override("zh-hans"):
        assert str(purpose) == "营销短信"
    assert str(purpose) == "Marketing SMS"


def test_a_validation_error_comes_out_in_chinese():
    version = PolicyVersion(version="2099.1", text="…", change_kinds=[])
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        version.clean()
    assert caught.value.message_dict["change_kinds"] == ["请说明此版本的变更类型。"]


def test_an_admin_action_is_labelled_in_chinese():
    with translation.override("zh-hans"):
        label = str(PolicyVersionAdmin.publish_selected.short_description)
    assert label == "发布所选版本（重大变更版本将启动重新征求同意活动）"


def test_the_consents_catalogue_has_no_empty_or_fuzzy_entry():
    found = entries(catalogue("consents"))
    assert len(found) > 300
    assert [m for m, s, fuzzy in found if not s or fuzzy] == []


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="makemessages needs GNU gettext")
def test_the_consents_catalogue_holds_every_msgid_makemessages_finds(tmp_path, monkeypatch):
    ours = {m for m, _s, _f in entries(catalogue("consents"))}
    fresh = entries(makemessages_in_copy("consents", tmp_path, monkeypatch))
    assert {m for m, _s, _f in fresh} == ours
    assert [m for m, s, fuzzy in fresh if not s or fuzzy] == []
