"""Large protected files encrypted in bounded segments (PP-26; issue 15 requirement 4).

A file of ``PROTECTED_FILE_SEGMENT_BYTES`` or less is stored as before: one Fernet token (the
"blob" format). A larger one (an access package of a member with a million orders) would need the
whole plaintext, its ciphertext and its base64 in memory at once, so it is stored as a sequence of
Fernet tokens, each over at most one segment of plaintext::

    MAGIC (8 bytes) | plaintext size (8, big-endian) | segment size (4)
    then per segment: token length (4, big-endian) | Fernet token

Fernet tokens start with ``gAAAAA`` (base64 of the version byte), so ``MAGIC`` never opens a blob:
readers tell the formats apart by the first bytes, and files stored before segments existed still
open. Each token authenticates its own plaintext, which begins with the segment's index (8 bytes)
and a last-segment flag (1 byte): a reader refuses segments that were reordered, dropped or cut
off after the last one, and refuses a file whose last segment is missing.

Memory: writing, reading and key rotation hold one segment (plaintext, ciphertext, base64) at a
time, whatever the size of the file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from accounts.privacy import crypto

MAGIC = b"ZQSEG01\n"
_HEADER = struct.Struct(">QI")  # plaintext size, segment size
_LENGTH = struct.Struct(">I")  # one token's length
_PREFIX = struct.Struct(">QB")  # inside each token: segment index, 1 on the last segment
HEADER_SIZE = len(MAGIC) + _HEADER.size
#: A token longer than this is not one of ours (a segment of at most 64 MiB, base64-encoded).
MAX_TOKEN = 96 << 20


class SegmentError(crypto.DecryptionError):
    """A segmented file is damaged: truncated, reordered or not ours. Names no content."""


def is_segmented(head: bytes) -> bool:
    return head.startswith(MAGIC)


def encrypt_chunks(source: Iterable[bytes], *, size: int, segment_bytes: int) -> Iterator[bytes]:
    """The stored bytes of a ``size``-byte plaintext read from ``source`` (chunks of any length)."""
    yield MAGIC + _HEADER.pack(size, segment_bytes)
    buffer = bytearray()
    index = 0
    written = 0

    def segment(data: bytes, last: bool) -> bytes:
        token = crypto.encrypt_bytes(_PREFIX.pack(index, 1 if last else 0) + data)
        return _LENGTH.pack(len(token)) + token

    for chunk in source:
        buffer += chunk
        # Keep a full segment back until more arrives: the last one must carry the flag.
        while len(buffer) > segment_bytes:
            data = bytes(buffer[:segment_bytes])
            del buffer[:segment_bytes]
            yield segment(data, last=False)
            index += 1
            written += len(data)
    written += len(buffer)
    if written != size:
        raise ValueError(f"the file changed while it was stored: {written} bytes read, {size} expected")
    yield segment(bytes(buffer), last=True)


def _read_exact(handle: BinaryIO, n: int) -> bytes:
    data = handle.read(n)
    if len(data) != n:
        raise SegmentError("segmented file is truncated")
    return data


def read_header(handle: BinaryIO) -> tuple[int, int]:
    """(plaintext size, segment size) of a segmented file positioned at its start."""
    if not is_segmented(_read_exact(handle, len(MAGIC))):
        raise SegmentError("not a segmented file")
    return _HEADER.unpack(_read_exact(handle, _HEADER.size))


def iter_tokens(handle: BinaryIO) -> Iterator[bytes]:
    """Each stored token in order, from a handle positioned after the header."""
    while True:
        head = handle.read(_LENGTH.size)
        if not head:
            return
        if len(head) != _LENGTH.size:
            raise SegmentError("segmented file is truncated")
        (length,) = _LENGTH.unpack(head)
        if not 0 < length <= MAX_TOKEN:
            raise SegmentError("segmented file is damaged")
        yield _read_exact(handle, length)


def iter_plaintext(handle: BinaryIO) -> Iterator[bytes]:
    """The decrypted segments of a segmented file, checked for order, completeness and size."""
    size, _segment = read_header(handle)
    total = 0
    last = False
    for expected, token in enumerate(iter_tokens(handle)):
        if last:
            raise SegmentError("segmented file has data after its last segment")
        plain = crypto.decrypt_bytes(token)
        index, flag = _PREFIX.unpack_from(plain)
        if index != expected:
            raise SegmentError("segmented file has its segments out of order")
        last = flag == 1
        data = plain[_PREFIX.size:]
        total += len(data)
        yield data
    if not last or total != size:
        raise SegmentError("segmented file is truncated")


def rotate_tokens(handle: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """(stored bytes, rotated?) for the header and every segment, each token under the primary key.

    The plaintext never leaves ``crypto.rotate_bytes``; a segment already under the primary key is
    copied as it is, so a second rotation rewrites nothing.
    """
    size, segment = read_header(handle)
    yield MAGIC + _HEADER.pack(size, segment), False
    for token in iter_tokens(handle):
        if crypto.is_current(token):
            yield _LENGTH.pack(len(token)) + token, False
        else:
            rotated = crypto.rotate_bytes(token)
            yield _LENGTH.pack(len(rotated)) + rotated, True
