"""A small reader of GNU gettext .po files and a compiler to .mo, in Python (issue 16).

The tests check the committed catalogues without GNU gettext (a fresh clone has none): every entry
translated and not fuzzy, and each committed .mo holding exactly what its .po says. Only what our
catalogues use is read: msgctxt, msgid, msgid_plural, msgstr, msgstr[n], flags; obsolete (#~) entries
are kept apart so a test can refuse them.
"""

from __future__ import annotations

import ast
import struct
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)
    obsolete: bool = False
    line: int = 0

    @property
    def key(self) -> str:
        """The key gettext looks up: context EOT msgid."""
        return self.msgid if self.msgctxt is None else f"{self.msgctxt}\x04{self.msgid}"

    @property
    def translated(self) -> bool:
        if self.msgid_plural is not None:
            return bool(self.msgstr_plural) and all(self.msgstr_plural.values())
        return bool(self.msgstr)


def _unquote(text: str) -> str:
    return ast.literal_eval(text)


def read_po(path: Path) -> list[Entry]:
    """Every entry of ``path``, the header (msgid "") first."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None

    def finish():
        nonlocal current
        if current is not None:
            entries.append(current)
        current = None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
        if not line:
            finish()
            target = None
            continue
        if line.startswith("#"):
            if current is not None and target is not None:
                finish()
                target = None
            current = current or Entry(line=number)
            if line.startswith("#,"):
                current.flags.update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#:"):
                current.references.extend(line[2:].split())
            continue
        current = current or Entry(line=number)
        current.obsolete = current.obsolete or obsolete
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            value, rest = _unquote(line), None
            name, index = target
        elif keyword.startswith("msgstr["):
            name, index = "msgstr_plural", int(keyword[7:-1])
            value = _unquote(rest)
        else:
            name, index = keyword, None
            if name == "msgid" and (current.msgid or current.msgstr or current.msgstr_plural):
                finish()
                current = Entry(line=number, obsolete=obsolete)
            value = _unquote(rest)
        target = (name, index)
        if name == "msgstr_plural":
            current.msgstr_plural[index] = current.msgstr_plural.get(index, "") + value
        else:
            setattr(current, name, (getattr(current, name) or "") + value)
    finish()
    return entries


def messages_of(entries: list[Entry]) -> dict[str, str]:
    """What msgfmt writes to the .mo: translated, non-fuzzy, non-obsolete entries and the header."""
    out: dict[str, str] = {}
    for entry in entries:
        if entry.obsolete or ("fuzzy" in entry.flags and entry.msgid):
            continue
        if entry.msgid_plural is not None:
            if entry.translated:
                key = entry.key + "\x00" + entry.msgid_plural
                out[key] = "\x00".join(entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural))
        elif entry.msgstr:
            out[entry.key] = entry.msgstr
    return out


def compile_mo(messages: dict[str, str]) -> bytes:
    """The .mo bytes of ``messages`` (Python's Tools/i18n/msgfmt.py layout)."""
    keys = sorted(messages)
    ids = strs = b""
    offsets = []
    for key in keys:
        kid, kstr = key.encode("utf-8"), messages[key].encode("utf-8")
        offsets.append((len(ids), len(kid), len(strs), len(kstr)))
        ids += kid + b"\0"
        strs += kstr + b"\0"
    keystart = 7 * 4 + 16 * len(keys)
    valuestart = keystart + len(ids)
    koffsets, voffsets = [], []
    for o1, l1, o2, l2 in offsets:
        koffsets += [l1, o1 + keystart]
        voffsets += [l2, o2 + valuestart]
    header = struct.pack("Iiiiiii", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + len(keys) * 8, 0, 0)
    return header + struct.pack(f"{len(koffsets)}i", *koffsets) + struct.pack(f"{len(voffsets)}i", *voffsets) \
        + ids + strs


def read_mo(path: Path) -> dict[str, str]:
    """Every message of a compiled catalogue (as ``gettext.GNUTranslations`` reads it), key -> text."""
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    order = "<" if magic == 0x950412DE else ">"
    _magic, _version, count, koff, voff = struct.unpack(order + "5I", data[:20])
    out = {}
    for i in range(count):
        klen, kpos = struct.unpack(order + "2I", data[koff + 8 * i: koff + 8 * i + 8])
        vlen, vpos = struct.unpack(order + "2I", data[voff + 8 * i: voff + 8 * i + 8])
        out[data[kpos:kpos + klen].decode("utf-8")] = data[vpos:vpos + vlen].decode("utf-8")
    return out
