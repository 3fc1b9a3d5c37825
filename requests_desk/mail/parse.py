"""Reading one inbound e-mail (requirement 4): an RFC 5322 message into a ``ParsedMail``, or
``UnreadableMail`` with a reason that names nobody. Nothing is stored here.

Hardened by fuzzing (``tests/requests_desk/test_fuzz_mail.py``): every finding is noted where it is handled.
"""

from __future__ import annotations

import contextlib
import datetime
import email
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass
from email.message import EmailMessage as ParsedEmail

from django.utils import timezone
from django.utils.html import strip_tags

from requests_desk.messages import IncomingAttachment

REFERENCE_RE = re.compile(r"\bDSR-[A-HJ-NP-Z2-9]{8}\b")
#: Message-IDs in In-Reply-To / References: a reply to one of our letters threads onto its request.
REFERENCE_ID_RE = re.compile(r"<[^<>\s]+>")
#: RFC 2047 encoded words (``=?gb2312?B?…?=``) name the charset of a header's text.
ENCODED_WORD_CHARSET_RE = re.compile(rb"=\?([A-Za-z0-9_.:+-]{1,40})(?:\*[A-Za-z-]+)?\?[BbQq]\?")
#: A message larger than this is quarantined rather than stored (a mail loop or an abuse).
MAX_MESSAGE_BYTES = 25 * 1024 * 1024


class UnreadableMail(Exception):
    """An e-mail file that cannot be read into a message; the text is a reason without personal data."""


@dataclass
class ParsedMail:
    message_id: str
    subject: str
    sender_address: str
    sender_name: str
    at: datetime.datetime
    body: str
    references: list[str]
    attachments: list[IncomingAttachment]
    #: Charsets the message declares (its text parts and encoded-word headers), lower case: a
    #: GB2312/GBK/GB18030 mail is Chinese (issue 16, ``accounts.languages.detect_language``).
    charsets: tuple[str, ...] = ()


def _header(message: ParsedEmail, name: str) -> str:
    try:
        value = message.get(name)
    except Exception as exc:  # a malformed header the parser defers until access
        raise UnreadableMail(f"the {name} header cannot be parsed ({type(exc).__name__})") from None
    return "" if value is None else _plain_text(str(value))


def _plain_text(text: str) -> str:
    """Header text as plain columns can hold it.

    Fuzz finding (tests/requests_desk/test_fuzz_mail.py): a NUL byte in a header reached the
    subject, name and Message-ID columns, which PostgreSQL refuses (the ingest failed with a
    ValueError). NUL is not allowed in a header (RFC 5322): it is kept visible as U+FFFD.
    """
    return text.replace("\x00", "\ufffd")


#: The reason a message nested deeper than the parser can follow is refused.
TOO_DEEP = "the MIME structure is nested too deeply"
#: Main types ``email``'s content manager reads; a part of any other type is kept as its bytes.
_CONTENT_MANAGED = frozenset({"text", "audio", "image", "video", "application", "message"})


def _leaf_parts(item: ParsedEmail):
    """The parts an attachment is kept as: a multipart among the attachments gives its sub-parts.

    Fuzz finding: a multipart nested in the top-level multipart (a forwarded bundle, a list footer
    around the original, a signed message) has no content of its own; ``get_content`` raised
    KeyError and the whole message was quarantined instead of kept.
    """
    payload = item.get_payload()
    if item.get_content_maintype() == "multipart" and isinstance(payload, list):
        for sub in payload:
            yield from _leaf_parts(sub)
    else:
        yield item


def _part_bytes(item: ParsedEmail) -> bytes:
    if item.get_content_maintype() not in _CONTENT_MANAGED:
        # Fuzz finding: font/*, model/* or a multipart without parts has no reader (KeyError
        # quarantined the message): kept as its bytes, decoded from base64 or quoted-printable.
        return item.get_payload(decode=True) or b""
    content = item.get_content()
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, ParsedEmail):
        return content.as_bytes()
    return content


def mail_parse(raw: bytes) -> ParsedMail:
    """Read one RFC 5322 message (``email`` with ``policy.default``); raises ``UnreadableMail``."""
    if not raw.strip():
        raise UnreadableMail("the file is empty")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise UnreadableMail(f"the message is larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MB")
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except RecursionError:
        # Fuzz finding (tests/requests_desk/test_fuzz_mail.py): a MIME tree nested about a thousand
        # levels deep overflowed the parser's recursion and the ingest stopped with a RecursionError.
        raise UnreadableMail(TOO_DEEP) from None
    if not message.keys():
        raise UnreadableMail("no e-mail headers found")
    sender = _header(message, "From")
    name, address = email.utils.parseaddr(sender)
    if "@" not in address:
        raise UnreadableMail("no sender address in the From header")
    message_id = _header(message, "Message-ID").strip()
    if not message_id:
        # Without a Message-ID the content itself identifies the message, so a rerun still skips it.
        message_id = f"<sha256-{hashlib.sha256(raw).hexdigest()}@ingest.invalid>"
    at = timezone.now()
    date_header = _header(message, "Date")
    if date_header:
        try:
            parsed = email.utils.parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed, datetime.UTC)
            at = min(parsed, at)  # a sender's clock in the future does not shorten the deadline
    try:
        part = message.get_body(preferencelist=("plain", "html"))
        body = "" if part is None else part.get_content()
        if part is not None and part.get_content_type() == "text/html":
            body = strip_tags(body)
        if message.get_content_maintype() == "multipart":
            items = list(message.iter_attachments())
        else:
            items = [] if part is not None else [message]  # a message that is one file, e.g. a scan
        attachments = [
            IncomingAttachment(content=_part_bytes(leaf), content_type=_plain_text(leaf.get_content_type()))
            for item in items for leaf in _leaf_parts(item)
        ]
    except RecursionError:
        raise UnreadableMail(TOO_DEEP) from None
    except (LookupError, UnicodeError, ValueError, KeyError, AttributeError) as exc:
        raise UnreadableMail(f"the body cannot be decoded ({type(exc).__name__})") from None
    charsets = _declared_charsets(raw, message)
    references = REFERENCE_ID_RE.findall(_header(message, "In-Reply-To") + " " + _header(message, "References"))
    return ParsedMail(
        message_id=message_id[:300], subject=_header(message, "Subject").strip(), sender_address=address.strip(),
        sender_name=name.strip(), at=at, body=body, references=references, attachments=attachments,
        charsets=charsets,
    )


def _declared_charsets(raw: bytes, message: ParsedEmail) -> tuple[str, ...]:
    """The charsets of the message's text parts and of the encoded words in its headers, in order."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    found = [m.decode("ascii").lower() for m in ENCODED_WORD_CHARSET_RE.findall(head)]
    # The body decoded already; a part with an odd charset parameter adds nothing to the language.
    with contextlib.suppress(LookupError, ValueError, AttributeError):
        found += [part.get_content_charset() for part in message.walk() if part.get_content_maintype() == "text"]
    return tuple(dict.fromkeys(charset for charset in found if charset))
