"""What one spreadsheet cell holds, written and read back safely (design decision 8).

Written: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by spreadsheet programs (CSV/formula injection), so every export gives such text a leading
``'`` (``escape_formula``). Read back: an import trims the text, turns a whole number a spreadsheet
stored as a float back into digits and removes the escape again, so an exported file imports back
unchanged (``cell_text``); a masked value copied from an export is recognised (``looks_masked``).
"""

from __future__ import annotations

from accounts.privacy.masking import HIDDEN

#: A cell starting with one of these is run as a formula by spreadsheet programs (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value):
    """Return ``value`` safe to put in a CSV or XLSX cell: ``'`` before a formula; non-text passes unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def unescape_formula(text: str) -> str:
    """Undo ``escape_formula`` on import, so an exported file imports back unchanged."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS) else text


def looks_masked(text: str) -> bool:
    """A masked value copied from an export (``j***@x``, ``**** 1234``, ``****-**-**``)."""
    return "***" in text or HIDDEN in text


def is_blank(value) -> bool:
    """An empty cell: nothing, or only white space."""
    return value is None or (isinstance(value, str) and not value.strip())


def cell_text(value) -> str:
    """A cell as trimmed text, the formula escape of our exports removed."""
    if type(value) is str:  # most cells (CSV): the same steps without the conversions
        text = value.strip()
        return unescape_formula(text) if text.startswith("'") else text
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number typed into a spreadsheet cell (member numbers, phones)
    return unescape_formula(str(value).strip())
