"""Fuzzed inbound e-mail (PP-14: tickets keep every message; bad input gets a clear error and loses nothing).

Property-based tests (hypothesis) feed random bytes and mutated messages to the mail parser
(``requests_desk.mail.parse.mail_parse``) and to the ingestion (``requests_desk.mail.ingest.mail_ingest``):
header injection, non-ASCII and NUL bytes in headers, bad or mislabelled charsets (x-unknown, gb2312,
utf-7, codecs that are not text encodings), broken base64 and quoted-printable, deep and nested
multipart trees, missing or unclosed boundaries and, for a handful of examples, parts of a few MB.

Either the message is read (and kept on a request), or the parser raises its own ``UnreadableMail``
with a short reason that names no value of the message (the directory ingest quarantines the file
with that reason), and nothing is written.
"""

from __future__ import annotations

import base64
import re
from email.message import EmailMessage

import pytest
from django.utils import timezone
from hypothesis import event, given
from hypothesis import strategies as st

from requests_desk.mail.ingest import IngestOutcome, mail_ingest
from requests_desk.mail.parse import UnreadableMail
from requests_desk.models import Attachment, Message, Request
from tests import fuzzing
from tests.fuzzing import rolled_back

pytestmark = pytest.mark.django_db

#: Appears in the generated headers and bodies: an error message or reason must never repeat it.
CANARY = "canary.person@mail.example"
#: What a reason for refusing a message may look like: fixed words and exception class names.
REASON_RE = re.compile(r"^[A-Za-z0-9 ().,_-]{5,120}$")


# --- Strategies --------------------------------------------------------------------------------------
CHARSETS = [
    "utf-8", "us-ascii", "x-unknown", "gb2312", "gbk", "gb18030", "big5", "utf-7", "unicode-1-1-utf-7",
    "utf-16", "utf-32", "iso-2022-jp", "shift_jis", "euc-kr", "koi8-r", "iso-8859-1", "windows-1252",
    "idna", "punycode", "rot13", "base64", "zlib", "hex", "uu", "utf-8\x00", "", '"', "utf-8'en'", "*",
]
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "uuencode", "x-unknown", ""]
CONTENT_TYPES = [
    "text/plain", "text/html", "text/enriched", "application/octet-stream", "application/pdf", "image/png",
    "message/rfc822", "message/delivery-status", "message/partial", "multipart/mixed", "text", "/", "x/y/z", "",
]
HEADER_NAMES = [
    "From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Reply-To", "Sender",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version", "X-Mailer",
]

# Text with the characters that break parsers: line breaks (header injection), NUL and control
# characters, non-ASCII, right-to-left marks and emoji (no surrogates: they cannot be encoded).
nasty_text = st.text(
    alphabet=st.one_of(
        st.sampled_from("\r\n\x00\t =?;:\"'<>@,\\\x7f\u202e\u200f\ufeff\U0001f600éü中文"),
        st.characters(exclude_categories=("Cs",)),
    ),
    max_size=30,
)


@st.composite
def header_value(draw) -> bytes:
    kind = draw(st.sampled_from(["text", "utf8", "latin1", "bytes", "word", "address", "injection", "date"]))
    if kind == "text":
        return draw(nasty_text).encode("utf-8", "surrogatepass")
    if kind == "utf8":
        return draw(st.text(max_size=40)).encode("utf-8", "surrogatepass")
    if kind == "latin1":
        return draw(st.text(alphabet=st.characters(max_codepoint=255), max_size=40)).encode("latin-1")
    if kind == "bytes":
        return draw(st.binary(max_size=60))
    if kind == "word":  # an RFC 2047 encoded word with any charset and a payload that may be broken
        charset = draw(st.sampled_from(CHARSETS)).encode("utf-8")
        code = draw(st.sampled_from([b"B", b"Q", b"b", b"q", b"X", b""]))
        payload = draw(st.one_of(st.binary(max_size=30).map(base64.b64encode), st.binary(max_size=30)))
        return b"=?" + charset + b"?" + code + b"?" + payload + b"?="
    if kind == "address":
        name = draw(nasty_text).encode("utf-8", "surrogatepass")
        return draw(st.sampled_from([b'"%s" <%s>', b"%s <%s>", b"%s%s", b"<%s@%s>", b"%s, <%s"])) % (
            name, CANARY.encode())
    if kind == "injection":  # a value that tries to start a header or the body of its own
        return draw(nasty_text).encode("utf-8", "surrogatepass") + draw(st.sampled_from(
            [b"\r\nBcc: x@y.example", b"\nSubject: injected", b"\r\n\r\n<html>", b"\n From: a@b", b"\x00\r\n"]))
    return draw(st.sampled_from([
        b"Tue, 03 Mar 2026 10:00:00 +0800", b"Tue, 03 Mar 99999 10:00:00 +0800", b"31 Feb 2026 25:61:61 +9999",
        b"Mon, 1 Jan 0001 00:00:00 -2359", b"yesterday", b"", b"Thu, 01 Jan 1970 00:00:00 GMT", b"1 2 3",
        b"Fri, 31 Dec 9999 23:59:59 -0000", b"Sun, 32 Foo 2026 10:00 +08",
    ]))


@st.composite
def header_lines(draw, *, required: bool) -> bytes:
    lines = []
    if required and draw(st.booleans()):
        lines.append(b"From: Person <" + CANARY.encode() + b">")
        lines.append(b"Subject: " + draw(header_value()))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.one_of(st.sampled_from(HEADER_NAMES), st.text(min_size=0, max_size=12))).encode(
            "utf-8", "surrogatepass")
        separator = draw(st.sampled_from([b": ", b":", b" : ", b"", b":\r\n "]))
        lines.append(name + separator + draw(header_value()))
    newline = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    return newline.join(lines) + newline


@st.composite
def body_bytes(draw, encoding: str, charset: str) -> bytes:
    text = draw(st.one_of(nasty_text, st.just("Hello, I would like a copy of my data. " + CANARY)))
    try:
        raw = text.encode(charset or "ascii")
    except (LookupError, UnicodeError, ValueError, TypeError):
        raw = text.encode("utf-8", "surrogatepass")  # mislabelled: the label says one thing, the bytes another
    kind = draw(st.sampled_from(["as-labelled", "random", "broken-b64", "broken-qp"]))
    if kind == "random":
        return draw(st.binary(max_size=200))
    if encoding == "base64" and kind != "broken-qp":
        encoded = base64.b64encode(raw)
        if kind == "broken-b64":
            cut = draw(st.integers(0, len(encoded)))
            encoded = encoded[:cut] + draw(st.sampled_from([b"=", b"==", b"===", b"!", b"\x00", b"-_", b"\xff", b""]))
        return encoded
    if encoding == "quoted-printable" or kind == "broken-qp":
        return draw(st.sampled_from([b"=ZZ", b"=", b"=\r\n", b"=0", b"=e9=", b"=C3=A9"])) + raw
    return raw


@st.composite
def leaf_part(draw) -> bytes:
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    headers = [b"Content-Type: " + content_type.encode() + b"; charset=\"" + charset.encode("utf-8") + b"\""]
    if encoding:
        headers.append(b"Content-Transfer-Encoding: " + encoding.encode())
    if draw(st.booleans()):
        headers.append(b"Content-Disposition: " + draw(st.sampled_from(
            [b"attachment", b"inline", b"attachment; filename=\"" + CANARY.encode() + b".pdf\"",
             b"attachment; filename*=x", b""])))
    if content_type == "message/rfc822" and draw(st.booleans()):
        body = draw(header_lines(required=True)) + b"\r\n" + draw(body_bytes("7bit", "utf-8"))
    else:
        body = draw(body_bytes(encoding, charset))
    return b"\r\n".join(headers) + b"\r\n\r\n" + body


def multipart(children: list[bytes], *, boundary: bytes, subtype: bytes, flaw: str) -> bytes:
    declared = boundary if flaw != "wrong-boundary" else boundary + b"-other"
    content_type = b"Content-Type: multipart/" + subtype
    if flaw != "no-boundary-parameter":
        content_type += b'; boundary="' + declared + b'"'
    parts = b"".join(b"--" + boundary + b"\r\n" + child + b"\r\n" for child in children)
    closing = b"" if flaw == "unclosed" else b"--" + boundary + b"--\r\n"
    preamble = b"preamble " + CANARY.encode() + b"\r\n" if flaw == "preamble" else b""
    return content_type + b"\r\n\r\n" + preamble + parts + closing


@st.composite
def mime_tree(draw, depth: int = 0) -> bytes:
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return draw(leaf_part())
    children = [draw(mime_tree(depth + 1)) for _ in range(draw(st.integers(0, 2)))]
    boundary = draw(st.one_of(
        st.sampled_from([b"b1", b"==b==", b"", b" ", b"a" * 80, b"--", b'"q"', b"\xe4\xb8\xad"]),
        st.text(alphabet="abcXYZ019'()+_,-./:=? ", min_size=1, max_size=70).map(str.encode),
    ))
    subtype = draw(st.sampled_from([b"mixed", b"alternative", b"related", b"digest", b"signed", b"report", b"x"]))
    flaw = draw(st.sampled_from(["none", "none", "wrong-boundary", "no-boundary-parameter", "unclosed", "preamble"]))
    return multipart(children, boundary=boundary, subtype=subtype, flaw=flaw)


@st.composite
def deep_tree(draw) -> bytes:
    """A chain of nested multiparts, or of attached messages up to more than a thousand levels deep.

    Python's parser recurses: about a thousand levels exhaust its stack (a fuzz finding). Deep
    multipart chains take the parser a long time to read, so they stay shallower here.
    """
    leaf = b"Content-Type: text/plain\r\n\r\nbottom"
    if draw(st.booleans()):
        part = leaf
        for level in range(draw(st.sampled_from([2, 10, 60]))):
            part = multipart([part], boundary=b"d%d" % level, subtype=b"mixed", flaw="none")
        return part
    return b"Content-Type: message/rfc822\r\n\r\n" * draw(st.sampled_from([2, 50, 300, 1100])) + leaf


def valid_messages() -> list[bytes]:
    """Well-formed messages the mutations start from: plain, HTML, alternative, attachments, forwarded."""
    def base(subject="Question about my account"):
        message = EmailMessage()
        message["From"] = f"Wang Fang <{CANARY}>"
        message["To"] = "privacy@exchange.example"
        message["Subject"] = subject
        message["Date"] = "Tue, 03 Mar 2026 10:00:00 +0800"
        message["Message-ID"] = "<m1@mail.example>"
        message["In-Reply-To"] = "<letter-1@exchange.example>"
        return message

    plain = base()
    plain.set_content("Hello, I would like a copy of my data.")
    html = base("Réponse 回复 DSR-ABCDEFGH")
    html.set_content("<p>Hello <b>there</b> 中文</p>", subtype="html")
    alternative = base()
    alternative.set_content("plain text")
    alternative.add_alternative("<p>html</p>", subtype="html")
    attached = base()
    attached.set_content("see the attachment")
    attached.add_attachment(b"%PDF-1.4 " + bytes(range(256)), maintype="application", subtype="pdf",
                            filename="wang-fang-id.pdf")
    attached.add_attachment("Zhōngwén 中文", subtype="plain", charset="utf-8", filename="note.txt")
    forwarded = base("Fwd: earlier")
    forwarded.set_content("forwarding")
    forwarded.add_attachment(plain)
    qp = base("quoted")
    qp.set_content("Accents éèà and a long line " + "x" * 200, cte="quoted-printable")
    return [bytes(m) for m in (plain, html, alternative, attached, forwarded, qp)]


VALID = valid_messages()


@st.composite
def mutated_message(draw) -> bytes:
    raw = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(raw)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "nul", "newline", "header"]))
        if kind == "flip" and position < len(raw):
            raw[position] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            raw[position:position] = draw(st.binary(min_size=1, max_size=20))
        elif kind == "delete":
            del raw[position:position + draw(st.integers(1, 40))]
        elif kind == "truncate":
            del raw[position:]
        elif kind == "nul":
            raw[position:position] = b"\x00"
        elif kind == "newline":
            raw[position:position] = draw(st.sampled_from([b"\r", b"\n", b"\r\n\r\n", b"\n\n--", b"\r\n "]))
        else:
            raw[0:0] = draw(header_lines(required=False))
    return bytes(raw)


@st.composite
def assembled_message(draw) -> bytes:
    """Headers and a MIME tree put together from the pieces above."""
    return draw(header_lines(required=True)) + draw(mime_tree())


@st.composite
def huge_message(draw) -> bytes:
    """A message with one part of 1 to 4 MB (text or base64), drawn for a handful of examples only."""
    size = draw(st.integers(1, 4)) * 1024 * 1024
    head = VALID[0].split(b"\n\n", 1)[0].replace(b"text/plain", b"multipart/mixed; boundary=\"hb\"", 1)
    if b"multipart/mixed" not in head:
        head += b"\nContent-Type: multipart/mixed; boundary=\"hb\""
    if draw(st.booleans()):
        line = b"QUJD" * 19 + b"\r\n"
        part = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + line * (
            size // len(line)) + draw(st.sampled_from([b"", b"=", b"!!"]))
    else:
        part = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + (b"x" * 1023 + b"\n") * (size // 1024)
    closing = draw(st.sampled_from([b"--hb--\r\n", b""]))
    return head + b"\r\n\r\n--hb\r\n" + part + b"\r\n" + closing


#: Attachment types a sender may use, including main types the ``email`` package has no reader for.
ATTACHMENT_TYPES = [("application", "pdf"), ("image", "png"), ("font", "woff2"), ("model", "gltf-binary"),
                    ("example", "x"), ("text", "csv")]


header_text = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=30)


@st.composite
def well_formed_part(draw, depth: int = 0) -> EmailMessage:
    part = EmailMessage()
    kind = draw(st.sampled_from(["text", "html", "file", "message", "multipart"] if depth < 3 else ["text", "file"]))
    if kind == "text":
        text, charset = draw(st.text(max_size=20)), draw(st.sampled_from(["utf-8", "gb18030", "big5"]))
        try:
            text.encode(charset)
        except UnicodeError:
            charset = "utf-8"
        part.set_content(text, charset=charset, cte=draw(st.sampled_from(["base64", "quoted-printable", "8bit"])))
    elif kind == "html":
        part.set_content("<p>" + draw(st.text(max_size=20)) + "</p>", subtype="html")
    elif kind == "file":
        maintype, subtype = draw(st.sampled_from(ATTACHMENT_TYPES))
        data = draw(st.binary(max_size=40))
        if maintype == "text":
            part.set_content(data.decode("latin-1"), subtype=subtype, disposition="attachment", filename="a.csv")
        else:
            part.set_content(data, maintype=maintype, subtype=subtype, filename="file.bin")
    elif kind == "message":
        inner = EmailMessage()
        inner["From"] = CANARY
        inner["Subject"] = draw(header_text)
        inner.set_content("forwarded")
        part.set_content(inner)
    else:
        part.make_mixed()
        for _ in range(draw(st.integers(1, 3))):
            part.attach(draw(well_formed_part(depth + 1)))
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "signed", "report"]))
        part.replace_header("Content-Type", f'multipart/{subtype}; boundary="{part.get_boundary()}"')
    return part


@st.composite
def well_formed_message(draw) -> bytes:
    """A message any mail program could send: nested multiparts, forwarded messages, any file type."""
    message = draw(well_formed_part())
    message["From"] = f"{draw(st.text(alphabet=st.characters(categories=('L', 'Zs')), max_size=15))} <{CANARY}>"
    message["Subject"] = draw(header_text)
    message["Message-ID"] = "<well-formed@mail.example>"
    return bytes(message)


def raw_mail():
    """``(raw bytes, whether the message is well formed and must be kept)``."""
    bad = [
        st.binary(max_size=400),
        st.binary(max_size=60).map(lambda b: b"From: " + CANARY.encode() + b"\r\n\r\n" + b),
        mutated_message(),
        mutated_message(),
        mutated_message(),
        assembled_message(),
        assembled_message(),
        assembled_message(),
        st.tuples(header_lines(required=True), deep_tree()).map(b"".join),
        # About one example in a hundred has a part of a few MB: reading one takes a while.
        st.integers(0, 9).flatmap(lambda n: huge_message() if n == 9 else mutated_message()),
    ]
    good = [st.sampled_from(VALID), well_formed_message(), well_formed_message()]
    return st.one_of(*(s.map(lambda raw: (raw, False)) for s in bad), *(s.map(lambda raw: (raw, True)) for s in good))


# --- Checks --------------------------------------------------------------------------------------------
def assert_clear_reason(exc: UnreadableMail) -> None:
    reason = str(exc)
    assert REASON_RE.fullmatch(reason), f"unclear or value-bearing reason: {reason!r}"
    assert CANARY not in reason


def assert_kept(kept: Message, outcome: IngestOutcome) -> None:
    """What the ingest kept: the message on its request, header text fit for plain columns."""
    request = kept.request
    assert request.reference == outcome.reference
    assert kept.source_message_id
    assert timezone.is_aware(kept.at) and kept.at <= timezone.now()
    # Header text goes to plain columns, and PostgreSQL refuses NUL in text.
    for text in (kept.subject, kept.source_message_id, request.subject, request.requester_name,
                 *kept.attachments.values_list("content_type", flat=True)):
        assert "\x00" not in text


def row_counts() -> tuple[int, int, int]:
    return fuzzing.row_counts((Request, Message, Attachment))


# --- Property ----------------------------------------------------------------------------------------
@fuzzing.fuzz
@given(mail=raw_mail())
def test_pp14_any_mail_is_kept_on_a_request_or_refused_with_a_clear_reason_and_nothing_written(mail):
    """``mail_ingest`` (which reads the message with ``mail_parse``) keeps the message on a request,
    or raises ``UnreadableMail`` with a clear reason and writes nothing (the directory ingest then
    quarantines the file with that reason). A well-formed message is always kept."""
    raw, well_formed = mail
    event("huge" if len(raw) > 1024 * 1024 else "normal")
    with rolled_back():
        before = row_counts()
        try:
            outcome = mail_ingest(raw)
        except UnreadableMail as exc:
            event("refused")
            assert not well_formed, f"a well-formed message was refused: {exc}"
            assert_clear_reason(exc)
            assert row_counts() == before
        else:
            event(outcome.action)
            assert outcome.action in ("created", "threaded")
            requests, messages, _ = row_counts()
            assert (requests, messages) == (before[0] + (outcome.action == "created"), before[1] + 1)
            assert_kept(Message.objects.select_related("request").latest("pk"), outcome)
