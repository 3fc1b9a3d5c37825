"""Names as staff search them (issue 16, requirement 6): in either script, partial, case- and accent-insensitive.

A person's or institution's legal and local names are kept, next to them, in one normalised column
(``NameSearchField``, recomputed on every save and bulk insert like the blind indexes):

- **folded**: Unicode NFKD, combining marks dropped, recomposed (NFC, so Hangul stays whole), then
  case-folded, so ``Wáng Fāng`` and full-width ``WANG`` read ``wang fang`` and ``wang``;
- **tokens**: runs of letters and digits; punctuation and spaces separate them (``O'Brien`` is
  ``o brien``, ``Jean-Luc`` is ``jean luc``);
- **CJK characters each as their own word** (``王芳`` is stored `` 王 芳 ``): PostgreSQL's trigram
  index (pg_trgm) pads every word, so a one- or two-character Chinese search, which has no trigram
  of its own, becomes ``LIKE '% 王 芳 %'``, whose padded trigrams (``"  王"``, ``" 王 "``, …) the
  GIN index answers; a plain ``LIKE '%王芳%'`` would read the whole table;
- **spaces optional in latin names**: a name of several latin words is stored joined too, so
  ``wangfang`` finds ``Wang Fang``;
- the names are separated by `` / ``, so a Chinese search never spans two different names.

A search term is folded the same way. Each latin token must occur somewhere (a part of a word is
enough, in any order: ``fang wang`` and ``wan`` find ``Wang Fang``); each run of CJK characters must
occur as consecutive whole characters (``芳`` and ``王芳`` find ``王芳``; ``芳王`` does not). Traditional
and simplified characters are not mapped to each other. The lookups are case-sensitive ``LIKE``
(``__contains``) on the folded column: ``icontains`` would wrap the column in ``UPPER()``, which the
trigram index cannot serve. Latin tokens shorter than three characters have no trigram either: they
are checked, but only the other conditions (or a scan) find the rows.

The column holds personal data (it is erased with the names and excluded from the audit history,
which keeps the names themselves); it is never shown, exported or logged.
"""

from __future__ import annotations

import re
import unicodedata

from django.db import models
from django.db.models import Q

# Han (with radicals, CJK symbols' letters, compatibility ideographs and the supplementary planes),
# kana, bopomofo and Hangul: scripts written without spaces between words.
_CJK = (
    "\u2e80-\u2fdf\u3005-\u3007\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
)
_TOKENS = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
NAME_SEPARATOR = " / "


def fold(text: str) -> str:
    """``text`` without accents and case: NFKD, combining marks dropped, NFC, case-folded."""
    text = text or ""
    if text.isascii():  # nothing to decompose or drop, and ``casefold`` is ``lower`` (issue 15: imports)
        return text.lower()
    if unicodedata.is_normalized("NFKD", text) and not any(map(unicodedata.combining, text)):
        # Nothing to decompose or drop (most CJK names): the same result without the per-character pass.
        return unicodedata.normalize("NFC", text).casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare).casefold()


def _tokens(text: str) -> list[tuple[str, bool]]:
    """The folded tokens of ``text``: ``(token, is_cjk)``, in order."""
    # The whole match is the group that matched: group 1 (CJK) or group 2 (latin).
    return [(m.group(), m.lastindex == 1) for m in _TOKENS.finditer(fold(text))]


def _spaced(token: str) -> str:
    return " ".join(token)


def name_search_key(*names: str) -> str:
    """The normalised search text of ``names`` (see the module docstring); ``""`` when there is none."""
    pieces = []
    for name in names:
        tokens = _tokens(name)
        if not tokens:
            continue
        pieces.append(" ".join(_spaced(token) if cjk else token for token, cjk in tokens))
        latin = [token for token, cjk in tokens if not cjk]
        if len(latin) > 1:
            pieces.append("".join(latin))  # spaces optional: "wangfang"
    return f" {NAME_SEPARATOR.join(pieces)} " if pieces else ""


def looks_like_a_name(term: str) -> bool:
    """Whether a search term may be a name: it has a letter (CJK included) and is not an e-mail address.

    An e-mail, a phone or a document number is looked up by its blind index instead; searching
    names for ``+86 138…`` or ``a@b.com`` would only cost a scan and find nothing useful.
    """
    return "@" not in term and any(ch.isalpha() for ch in term)


def name_search_q(term: str, field: str = "name_search") -> Q | None:
    """The condition finding ``term`` in a ``NameSearchField`` named ``field``; None when nothing to search."""
    tokens = _tokens(term) if looks_like_a_name(term) else []
    if not tokens:
        return None
    condition = Q()
    for token, cjk in tokens:
        condition &= Q(**{f"{field}__contains": f" {_spaced(token)} " if cjk else token})
    return condition


class NameSearchField(models.TextField):
    """The normalised search text of other fields of the row (``sources``), kept in step on every
    save and ``bulk_create`` (and COPY, which calls ``pre_save``).

    ``bulk_update`` and ``QuerySet.update`` do not call ``pre_save``: code that writes a source that
    way writes this one too (``accounts.members.spreadsheets.writes.records_bulk_save`` does).
    """

    def __init__(self, *args, sources: tuple[str, ...] = (), **kwargs):
        self.sources = tuple(sources)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["sources"] = self.sources
        for key, default in (("editable", False), ("blank", True), ("default", "")):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = name_search_key(*(getattr(model_instance, source) or "" for source in self.sources))
        setattr(model_instance, self.attname, value)
        return value
