
"""The retention app in Simplified Chinese (issue 16, requirements 1 and 4)."""

from __future__ import annotations

import shutil

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from retention.admin.erasure_runs import ErasureRunAdmin
from retention.choices import ErasureTrigger, RunStatus
from retention.records_io import parse_lines
from tests.catalogue_check import catalogue, entries, makemessages_in_copy


def test_choices_read_in_chinese():
    with translation.override("zh-hans"):
        assert str(RunStatus.PREPARED.label) == "已准备，待批准"
        assert str(ErasureTrigger.UNDER_14.label) == "未满十四周岁的会员（PP-37）"


def test_a_validation_error_of_an_import_comes_out_in_chinese():
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        parse_lines(["{not json"])
    assert "不是 JSON" in caught.value.messages[0]


def test_an_admin_action_is_labelled_in_chinese():
    with translation.override("zh-hans"):
        label = str(ErasureRunAdmin.approve_runs.short_description)
    assert label == "批准所选已准备的删除任务（四眼原则）并加入队列"


def test_the_retention_catalogue_has_no_empty_or_fuzzy_entry():
    found = entries(catalogue("retention"))
    assert len(found) > 200
    assert [m for m, s, fuzzy in found if not s or fuzzy] == []


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="makemessages needs GNU gettext")
def test_the_retention_catalogue_holds_every_msgid_makemessages_finds(tmp_path, monkeypatch):
    ours = {m for m, _s, _f in entries(catalogue("retention"))}
    fresh = entries(makemessages_in_copy("retention", tmp_path, monkeypatch))
    assert {m for m, _s, _f in fresh} == ours
    assert [m for m, s, fuzzy in fresh if not s or fuzzy] == []
