"""The language a letter, notice, staff e-mail or command's output is written in (issue 16), for every app.

- ``member_language``: a member's recorded preference, else ``DEFAULT_LETTER_LANGUAGE``;
- ``staff_language``: a staff user's chosen language (``StaffUser.language``), else ``LANGUAGE_CODE``;
- ``detect_language``: from an incoming message, its script (Chinese characters) and the charsets
  its MIME parts declare (GB2312, GBK, GB18030, Big5, HZ → Simplified Chinese); ``None`` when
  nothing says;
- ``localized_templates``: a per-language template first (``<dir>/<language>/<name>``), the English
  one (``<dir>/<name>``) after it. Letters are whole letters per language (docs/decisions.md).

- ``environment_language``: the operator's language at a terminal, read from the locale environment
  (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``) as gettext programs read it; ``manage.py`` runs
  every command in it (``config.command_line``);
- ``supported``: a code if it is one of ``settings.LANGUAGES``, the one check every caller makes (the
  staff language switch and middleware, ``accounts.staff.language``, included).

Lives in ``accounts`` (the lowest layer) because consents, retention and requests_desk all send mail;
it is shared plumbing of ``accounts`` (docs/architecture.md) and imports nothing of the project, so
every room of the app may import it too.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.utils.translation import get_supported_language_variant, to_language

ENGLISH = "en"
CHINESE = "zh-hans"
#: Charsets only Chinese mail declares (lower case, as ``email`` reports them).
CHINESE_CHARSETS = frozenset({"gb2312", "gbk", "gb18030", "big5", "big5-hkscs", "hz-gb-2312", "euc-cn", "cp936"})
#: CJK Unified Ideographs (with extension A and the compatibility block) and CJK punctuation.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")
#: At least this many Chinese characters, and this share of the letters, make a text Chinese: an
#: English mail that quotes a Chinese name (王芳) stays English.
MIN_HAN = 2
MIN_HAN_SHARE = 0.2
#: Where a gettext program looks for its messages' language, in the order it looks: the first one
#: set (and not empty) decides.
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
#: The C library's own locale: messages untranslated, that is in English.
_C_LOCALES = frozenset({"c", "posix"})


def language_codes() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def supported(code: str | None) -> str | None:
    """``code`` if it is one of ``settings.LANGUAGES`` (case-insensitive), else ``None``."""
    code = (code or "").strip().lower()
    return code if code in language_codes() else None


def default_letter_language() -> str:
    return supported(settings.DEFAULT_LETTER_LANGUAGE) or ENGLISH


def member_language(member) -> str:
    """A member's letters: the recorded preference, else the platform's default."""
    return supported(getattr(member, "preferred_language", "")) or default_letter_language()


def staff_language(user) -> str:
    """A staff user's e-mails: the language they chose (``StaffUser.language``), else ``LANGUAGE_CODE``."""
    return supported(getattr(user, "language", "")) or supported(settings.LANGUAGE_CODE) or ENGLISH


def locale_language(name: str) -> str | None:
    """The language of ``LANGUAGES`` that a POSIX locale name stands for, else ``None``.

    The codeset and modifier go (``zh_CN.UTF-8@x`` is ``zh_CN``); ``C`` and ``POSIX`` are English;
    the rest is matched as Django matches a browser's ``Accept-Language``: ``zh_CN``, ``zh_SG``,
    ``zh_Hans`` and ``zh`` are Simplified Chinese, ``en_US`` and ``en_GB`` English, ``fr_FR`` none.
    """
    name = re.split(r"[.@]", (name or "").strip(), maxsplit=1)[0]
    if not name:
        return None
    if name.lower() in _C_LOCALES:
        return supported(ENGLISH)
    try:
        return get_supported_language_variant(to_language(name))
    except LookupError:
        return None


def environment_language(environ: Mapping[str, str] = os.environ) -> str:
    """The operator's language: the first of ``LOCALE_VARIABLES`` that is set decides, else ``LANGUAGE_CODE``.

    ``LANGUAGE`` may list several locales (``fr_FR:zh_CN``): the first one we offer. A locale we do
    not offer is ``LANGUAGE_CODE`` too; a later variable is not asked (``LANGUAGE=en`` overrides a
    Chinese ``LANG`` for one run, as it does for every gettext program).
    """
    for variable in LOCALE_VARIABLES:
        value = (environ.get(variable) or "").strip()
        if not value:
            continue
        names = value.split(":") if variable == "LANGUAGE" else [value]
        for name in names:
            language = locale_language(name)
            if language:
                return language
        break
    return supported(settings.LANGUAGE_CODE) or ENGLISH


def script_language(text: str) -> str | None:
    """Chinese when the text is written mostly in Chinese characters, English when in Latin letters."""
    text = text or ""
    han = len(_HAN.findall(text))
    latin = len(_LETTER.findall(text))
    if han >= MIN_HAN and han >= MIN_HAN_SHARE * (han + latin):
        return CHINESE
    if latin >= 3:
        return ENGLISH
    return None


def detect_language(*, text: str = "", charsets: Iterable[str] = ()) -> str | None:
    """The language of an incoming message, or ``None`` when neither its text nor its charset says.

    The script decides first (a UTF-8 mail in Chinese is Chinese; an English mail from a Chinese
    mail client that declares GBK is English); with no text to judge, a Chinese charset decides.
    """
    by_script = script_language(text)
    if by_script is not None:
        return by_script
    if any((charset or "").strip().lower() in CHINESE_CHARSETS for charset in charsets):
        return CHINESE
    return None


def localized_templates(path: str, language: str) -> list[str]:
    """Template names for ``path`` in ``language``: ``dir/<language>/name`` before ``dir/name`` (English)."""
    language = supported(language) or ENGLISH
    if language == ENGLISH:
        return [path]
    folder, name = posixpath.split(path)
    return [posixpath.join(folder, language, name), path]


def localized_template(path: str, language: str) -> str:
    """The one template name a complete translation uses (``localized_templates``' first entry)."""
    return localized_templates(path, language)[0]
