"""Checks of an app's zh-Hans catalogue shared by the apps' i18n tests (issue 16, requirement 4)."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def entries(po: Path) -> list[tuple[str, str, bool]]:
    """(msgid, msgstr, fuzzy) of every entry but the header, read without GNU gettext."""
    found = []
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.strip().splitlines() if not line.startswith("#~")]
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
        parts: dict[str, list[str]] = {}
        current = None
        for line in lines:
            if line.startswith(("msgid ", "msgstr")):
                current, _, text = line.partition(" ")
                parts[current] = [text]
            elif line.startswith('"') and current:
                parts[current].append(line)
        if "msgid" not in parts:
            continue
        msgid = "".join(eval(piece) for piece in parts["msgid"])  # noqa: S307 - PO string literals
        msgstr = "".join(eval(piece) for piece in parts.get("msgstr", []))  # noqa: S307
        if msgid:
            found.append((msgid, msgstr, fuzzy))
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
