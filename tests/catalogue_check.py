"""Checks of an app's zh-Hans catalogue shared by the apps' i18n tests (issue 16, requirement 4)."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.core.management import call_command

from tests.po import read_po

ROOT = Path(__file__).resolve().parent.parent


def entries(po: Path) -> list[tuple[str, str, bool]]:
    """(msgid, msgstr, fuzzy) of every entry but the header and obsolete ones (``tests.po`` reads them).

    A plural entry's msgstr is its forms joined, or "" while any form is missing."""
    found = []
    for entry in read_po(po):
        if not entry.msgid or entry.obsolete:
            continue
        if entry.msgid_plural is None:
            text = entry.msgstr
        else:
            text = "\x00".join(entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural)) if entry.translated else ""
        found.append((entry.msgid, text, "fuzzy" in entry.flags))
    return found


def catalogue(app: str) -> Path:
    return ROOT / app / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def makemessages_in_copy(app: str, tmp_path: Path, monkeypatch) -> Path:
    """Run makemessages on a copy of the app; returns the copy's catalogue (the original is untouched)."""
    copy = tmp_path / app
    shutil.copytree(ROOT / app, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["zh_Hans"], verbosity=0)
    return copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
