"""The text encoding of a spreadsheet file: detected or chosen, decoded incrementally (issue 16, requirement 5).

Chinese offices save CSV from Excel in GBK (its default "CSV" in a Chinese Windows), in UTF-8 with
a byte-order mark ("CSV UTF-8") or as "Unicode text" (UTF-16LE with a BOM, tab-separated). An import
reads any of them:

- chosen (``--encoding``, the admin import form's "Encoding" field): ``utf-8`` / ``utf-8-sig`` (a BOM
  is skipped either way), ``gb18030`` / ``gbk`` (read as GB18030, its superset), ``utf-16`` (the BOM
  says the byte order; without one, where the NULs fall, else little-endian as Excel writes);
- or detected (``auto``) from the first ``DETECTION_PREFIX`` bytes only, so a streamed import keeps
  its memory bounded: a BOM first; then strict UTF-8; then UTF-16 without a BOM if NULs alternate;
  then GB18030.

The file is then decoded chunk by chunk (``codecs.getincrementaldecoder``). A byte that does not
decode, in the prefix or far beyond it, raises ``UnreadableFile`` naming the encodings tried and where:
the line (as a text editor counts it), the character in that line and the byte offset in the file.
Never a value. Exports write UTF-8 with a BOM by default (Excel then reads Chinese correctly) or
GB18030 when chosen.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.members.spreadsheets.problems import UnreadableFile

AUTO = "auto"
#: What an import may be told the file is in (the command's ``--encoding``, the admin form's field).
IMPORT_ENCODING_CHOICES = [
    (AUTO, _("Detect (UTF-8, UTF-16 or GB18030)")),
    ("utf-8", _("UTF-8")),
    ("utf-8-sig", _('UTF-8 with BOM (Excel "CSV UTF-8")')),
    ("gb18030", _('GB18030 (Chinese Excel "CSV")')),
    ("gbk", _("GBK (read as GB18030)")),
    ("utf-16", _('UTF-16 (Excel "Unicode text")')),
]
IMPORT_ENCODINGS = tuple(code for code, _label in IMPORT_ENCODING_CHOICES)
#: What an export may be written in: UTF-8 with a BOM opens correctly in Excel, Chinese included.
EXPORT_ENCODING_CHOICES = [
    ("utf-8-sig", _("UTF-8 with BOM (opens in Excel)")),
    ("gb18030", _("GB18030 (Chinese Excel)")),
    ("utf-8", _("UTF-8 without BOM")),
]
EXPORT_ENCODINGS = tuple(code for code, _label in EXPORT_ENCODING_CHOICES)
DEFAULT_EXPORT_ENCODING = "utf-8-sig"

#: Bytes read to detect the encoding of a streamed file; the rest is only decoded.
DETECTION_PREFIX = 64 * 1024
#: Bytes decoded at a time after the prefix.
READ_SIZE = 64 * 1024

_BOMS = ((codecs.BOM_UTF8, "utf-8", "UTF-8"), (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
         (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"))
_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "gb18030": "GB18030", "gbk": "GBK", "utf-16": "UTF-16"}


@dataclass(frozen=True)
class Encoding:
    """How to decode one file: a codec without BOM handling, the BOM's length, and what was tried."""

    codec: str  # utf-8, utf-16-le, utf-16-be or gb18030
    name: str  # as a person calls it, e.g. "GB18030"
    bom: int = 0
    tried: tuple[str, ...] = ()


def export_codec(choice: str | None) -> str:
    """The Python codec an export is written in (``utf-8-sig`` writes the BOM)."""
    return choice if choice in EXPORT_ENCODINGS else DEFAULT_EXPORT_ENCODING


def detect(prefix: bytes, choice: str = AUTO, *, complete: bool = False) -> Encoding:
    """The encoding of a file that starts with ``prefix`` (the whole file when ``complete``).

    Raises ``UnreadableFile`` when ``auto`` finds no encoding that reads the prefix.
    """
    choice = (choice or AUTO).lower()
    if choice not in IMPORT_ENCODINGS:
        raise UnreadableFile(gettext("Unknown encoding %(name)r: use one of %(choices)s.")
                             % {"name": choice, "choices": ", ".join(IMPORT_ENCODINGS)})
    bom = next(((codec, name, len(mark)) for mark, codec, name in _BOMS if prefix.startswith(mark)), None)
    if choice in ("utf-8", "utf-8-sig"):
        skip = len(codecs.BOM_UTF8) if prefix.startswith(codecs.BOM_UTF8) else 0
        return Encoding("utf-8", "UTF-8", skip, ("UTF-8",))
    if choice in ("gb18030", "gbk"):
        return Encoding("gb18030", _NAMES[choice], 0, (_NAMES[choice],))
    if choice == "utf-16":
        if bom and bom[0] != "utf-8":
            return Encoding(bom[0], "UTF-16", bom[2], ("UTF-16",))
        return Encoding(_utf16_order(prefix) or "utf-16-le", "UTF-16", 0, ("UTF-16",))
    if bom:
        return Encoding(bom[0], bom[1], bom[2], (bom[1],))
    utf8 = _first_error(prefix, "utf-8", complete)
    if utf8 is None:
        return Encoding("utf-8", "UTF-8", 0, ("UTF-8",))
    order = _utf16_order(prefix)
    if order:
        return Encoding(order, "UTF-16", 0, ("UTF-8", "UTF-16"))
    gb = _first_error(prefix, "gb18030", complete)
    if gb is None:
        return Encoding("gb18030", "GB18030", 0, ("UTF-8", "GB18030"))
    # Neither reads the file: say where the one that read further stopped.
    codec, exc = ("gb18030", gb) if gb.start >= utf8.start else ("utf-8", utf8)
    tracker = _Position(Encoding(codec, _NAMES[codec], 0, ("UTF-8", "UTF-16", "GB18030")))
    raise tracker.error(exc, consumed=0, pending=0)


def _first_error(data: bytes, codec: str, complete: bool) -> UnicodeDecodeError | None:
    try:
        codecs.getincrementaldecoder(codec)().decode(data, final=complete)
    except UnicodeDecodeError as exc:
        return exc
    return None


def _utf16_order(prefix: bytes) -> str | None:
    """``utf-16-le`` or ``-be`` when NULs fall on one side of the byte pairs (ASCII text in UTF-16), else None."""
    sample = prefix[: len(prefix) - len(prefix) % 2]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd >= pairs * 0.3 and even <= pairs * 0.05:
        return "utf-16-le"
    if even >= pairs * 0.3 and odd <= pairs * 0.05:
        return "utf-16-be"
    return None


class _Position:
    """Where decoding has got to, in lines and characters as a person counts them."""

    def __init__(self, encoding: Encoding):
        self.encoding = encoding
        self.lines = 0  # line breaks decoded so far
        self.column = 0  # characters decoded since the last line break

    def advance(self, text: str) -> None:
        breaks = text.count("\n")
        if breaks:
            self.lines += breaks
            self.column = len(text) - text.rfind("\n") - 1
        else:
            self.column += len(text)

    def error(self, exc: UnicodeDecodeError, *, consumed: int, pending: int) -> UnreadableFile:
        """``UnreadableFile`` for ``exc`` raised by a decode call that started ``consumed`` bytes after the BOM."""
        self.advance(codecs.decode(exc.object[:exc.start], self.encoding.codec))
        offset = self.encoding.bom + consumed - pending + exc.start + 1
        return UnreadableFile(gettext(
            "line %(line)d: character %(column)d of the line (byte %(offset)d of the file) cannot be read as "
            "%(encoding)s; encodings tried: %(tried)s. Save the file as CSV UTF-8, or choose its encoding, "
            "and import it again."
        ) % {"line": self.lines + 1, "column": self.column + 1, "offset": offset, "encoding": self.encoding.name,
             "tried": ", ".join(self.encoding.tried)})


def decoded_text(binary, choice: str = AUTO, *, prefix_size: int = DETECTION_PREFIX,
                 read_size: int = READ_SIZE) -> Iterator[str]:
    """The text of a binary file object, a chunk at a time; ``UnreadableFile`` says where it stops decoding."""
    prefix = binary.read(prefix_size)
    encoding = detect(prefix, choice, complete=len(prefix) < prefix_size)
    decoder = codecs.getincrementaldecoder(encoding.codec)()
    position = _Position(encoding)
    block, consumed = prefix[encoding.bom:], 0
    while True:
        final = not block
        try:
            text = decoder.decode(block, final=final)
        except UnicodeDecodeError as exc:
            raise position.error(exc, consumed=consumed, pending=len(exc.object) - len(block)) from None
        consumed += len(block)
        if text:
            position.advance(text)
            yield text
        if final:
            return
        block = binary.read(read_size)


def decode_bytes(content: bytes, choice: str = AUTO) -> str:
    """``content`` (a whole file in memory) as text; detection reads all of it."""
    return "".join(decoded_text(io.BytesIO(content), choice, prefix_size=len(content) + 1))


def text_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines of decoded text, each with its ``\\n`` (the only line break split on, as before), memory bounded."""
    pending: list[str] = []
    for text in chunks:
        if "\n" not in text:
            pending.append(text)
            continue
        parts = text.split("\n")
        parts[0] = "".join(pending) + parts[0]
        last = parts.pop()
        pending = [last] if last else []
        for part in parts:
            yield part + "\n"
    rest = "".join(pending)
    if rest:
        yield rest


def delimiter_of(header_line: str) -> str:
    """A tab for a tab-separated header (Excel's "Unicode text"), else a comma; header cells are column names."""
    return "\t" if "\t" in header_line and "," not in header_line else ","
