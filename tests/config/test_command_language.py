"""Issue 16, requirement 1: a management command speaks the operator's language, as gettext programs do.

``manage.py`` reads ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` (the first one set decides)
and runs the command in that language (``config.command_line``); the web, the workers and mail keep
theirs. The wiring is ``manage.py``'s, so those cases run it in a subprocess.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import translation

from accounts.languages import environment_language, locale_language
from tests.config.test_settings import run_django
from tests.requests_desk.test_reminders import due_in

LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


@pytest.mark.parametrize(("name", "language"), [
    ("zh_CN.UTF-8", "zh-hans"), ("zh_CN", "zh-hans"), ("zh_SG", "zh-hans"), ("zh_Hans", "zh-hans"),
    ("zh", "zh-hans"), ("zh_CN.GB18030", "zh-hans"), ("en_US.UTF-8", "en"), ("en_GB", "en"), ("C", "en"),
    ("C.UTF-8", "en"), ("POSIX", "en"), ("fr_FR.UTF-8", None), ("", None), ("../../etc", None),
])
def test_a_locale_name_stands_for_one_of_our_languages_or_none(name, language):
    assert locale_language(name) == language


@pytest.mark.parametrize(("environ", "language"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh-hans"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh-hans"),
    ({"LC_ALL": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "en"),
    ({"LANGUAGE": "en", "LC_ALL": "zh_CN.UTF-8"}, "en"),
    ({"LANGUAGE": "fr_FR:zh_CN:en", "LANG": "en_US.UTF-8"}, "zh-hans"),  # the first of the list we offer
    ({"LANGUAGE": "", "LANG": "zh_SG"}, "zh-hans"),  # set but empty counts as not set
    ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"),
])
def test_the_first_locale_variable_set_decides(environ, language):
    assert environment_language(environ) == language


@pytest.mark.parametrize("environ", [{}, {"LANG": "fr_FR.UTF-8"}, {"LANGUAGE": "de:fr", "LANG": "zh_CN.UTF-8"}])
def test_nothing_set_or_a_language_we_do_not_offer_is_the_default_language(environ, settings):
    assert environment_language(environ) == "en"
    settings.LANGUAGE_CODE = "zh-hans"
    assert environment_language(environ) == "zh-hans"


def test_c_is_english_even_where_the_default_language_is_chinese(settings):
    settings.LANGUAGE_CODE = "zh-hans"
    assert environment_language({"LANG": "C.UTF-8"}) == "en"


def manage(tmp_path, **locale: str):
    """``manage.py datamap_export`` (it reads no database) with only ``locale`` of the four variables set."""
    target = tmp_path / "datamap.csv"
    result = run_django(["manage.py", "datamap_export", "--format", "csv", "-o", str(target)],
                        {"DEBUG": "true", "PYTHONIOENCODING": "utf-8", **locale}, drop=LOCALE_VARIABLES)
    assert result.returncode == 0, result.stderr
    assert target.is_file()
    return result.stderr


def test_a_command_run_with_a_chinese_lang_reports_in_chinese(tmp_path):
    stderr = manage(tmp_path, LANG="zh_CN.UTF-8")
    assert f"已将数据地图（csv）写入 {tmp_path / 'datamap.csv'}。" in stderr
    assert "Wrote the data map" not in stderr


def test_a_command_run_with_an_english_lang_reports_in_english(tmp_path):
    stderr = manage(tmp_path, LANG="en_US.UTF-8", LC_MESSAGES="")
    assert f"Wrote the data map (csv) to {tmp_path / 'datamap.csv'}." in stderr
    assert "已将数据地图" not in stderr


def test_language_overrides_lang_for_one_run(tmp_path):
    stderr = manage(tmp_path, LANGUAGE="en", LANG="zh_CN.UTF-8")
    assert "Wrote the data map (csv) to" in stderr


def test_a_command_run_with_no_locale_set_reports_in_the_default_language(tmp_path):
    stderr = manage(tmp_path)
    assert "Wrote the data map (csv) to" in stderr


@pytest.mark.django_db
def test_a_chinese_operator_s_command_still_mails_an_english_recipient_in_english(supervisor, settings):
    """What ``manage.py`` does for ``LANG=zh_CN.UTF-8`` changes the command's report, not the mail it sends."""
    settings.REQUEST_REMINDER_DAYS = [5, 2, 0]
    late = due_in(-2)
    out = StringIO()
    translation.activate(environment_language({"LANG": "zh_CN.UTF-8"}))
    call_command("send_request_reminders", "--no-progress", stdout=out, stderr=StringIO())
    assert "请求期限提醒" in out.getvalue()
    assert translation.get_language() == "zh-hans"  # the operator's language is still the command's
    # The supervisor chose no language: their digest is in LANGUAGE_CODE, English, not the operator's.
    [digest] = [m for m in mail.outbox if m.to == [supervisor.email]]
    assert digest.subject == "Request desk: deadlines needing your attention"
    assert "OVERDUE (escalated to supervisors):" in digest.body and late.reference in digest.body
