"""Field encryption and blind indexes (PP-26, design decision 2).

- Values are encrypted with ``cryptography``'s MultiFernet: the first key of
  ``FIELD_ENCRYPTION_KEYS`` encrypts, every key decrypts, so keys rotate without downtime.
- Exact-value lookups use a blind index: HMAC-SHA256 under ``BLIND_INDEX_KEY`` of the normalised
  value, prefixed with a *kind* so that the same value hashes alike wherever it is stored under
  that kind (an ID number on a document and on a related person) and differently otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import struct
import time
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key (no value in the message)."""


@lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


@lru_cache(maxsize=8)
def _primary(key: str) -> Fernet:
    return Fernet(key.encode())


def keys() -> tuple[str, ...]:
    return tuple(settings.FIELD_ENCRYPTION_KEYS)


def encrypt_bytes(data: bytes) -> bytes:
    return _multifernet(keys()).encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    try:
        return _multifernet(keys()).decrypt(token)
    except InvalidToken as exc:
        raise DecryptionError("stored value does not decrypt with any configured key") from exc


def encrypt_str(value: str) -> str:
    return encrypt_bytes(value.encode()).decode("ascii")


def encrypt_many(values: list[str]) -> list[str]:
    """``encrypt_str`` of many values at once: the same Fernet tokens, about three times faster (issue 15).

    A Fernet token is ``0x80 | time | IV | AES-128-CBC(PKCS7(value)) | HMAC-SHA256`` (the Fernet
    spec). ``Fernet.encrypt`` builds a cipher context per value; here each value still gets its own
    random IV (``os.urandom``, one call for all), and CBC is applied block by block with one AES
    context for every value's n-th block (CBC: each block is encrypted after XOR with the previous
    ciphertext block, the first with the IV). The HMAC key is set up once. Every token decrypts with
    ``Fernet``/``MultiFernet`` (tests/accounts/test_import_stream.py checks it), under the primary key.
    """
    if not values:
        return []
    raw = base64.urlsafe_b64decode(keys()[0])
    signing, encryption = raw[:16], raw[16:]
    count = len(values)
    ivs = os.urandom(16 * count)
    padded = []
    for value in values:
        data = value.encode()
        pad = 16 - len(data) % 16
        padded.append(data + bytes((pad,)) * pad)
    previous = [ivs[16 * i : 16 * i + 16] for i in range(count)]
    ciphertexts = [b""] * count
    # The raw AES block function (one block in, one out): the CBC chaining is done just above and below.
    aes = Cipher(algorithms.AES(encryption), modes.ECB()).encryptor()  # noqa: S305
    pending, block = list(range(count)), 0
    while pending:
        start = 16 * block
        mixed = b"".join(
            (int.from_bytes(padded[i][start : start + 16], "big") ^ int.from_bytes(previous[i], "big"))
            .to_bytes(16, "big")
            for i in pending
        )
        encrypted = aes.update(mixed)
        still = []
        for j, i in enumerate(pending):
            previous[i] = encrypted[16 * j : 16 * j + 16]
            ciphertexts[i] += previous[i]
            if len(padded[i]) > start + 16:
                still.append(i)
        pending, block = still, block + 1
    stamp = b"\x80" + struct.pack(">Q", int(time.time()))
    mac = hmac.new(signing, digestmod=hashlib.sha256)
    tokens = []
    for i in range(count):
        parts = stamp + ivs[16 * i : 16 * i + 16] + ciphertexts[i]
        signature = mac.copy()
        signature.update(parts)
        tokens.append(base64.urlsafe_b64encode(parts + signature.digest()).decode("ascii"))
    return tokens


def decrypt_str(token: str) -> str:
    return decrypt_bytes(token.encode("ascii")).decode()


def is_current(token: str | bytes) -> bool:
    """True when ``token`` is already encrypted under the primary key (rotation can skip it)."""
    raw = token.encode("ascii") if isinstance(token, str) else token
    try:
        _primary(keys()[0]).decrypt(raw)
    except InvalidToken:
        return False
    return True


def rotate_token(token: str) -> str:
    """Re-encrypt under the primary key; the plaintext never leaves this function."""
    try:
        return _multifernet(keys()).rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise DecryptionError("stored value does not decrypt with any configured key") from exc


def rotate_bytes(token: bytes) -> bytes:
    """``rotate_token`` for file contents (bytes in, bytes out, no text round trip)."""
    try:
        return _multifernet(keys()).rotate(token)
    except InvalidToken as exc:
        raise DecryptionError("stored value does not decrypt with any configured key") from exc


# --- Blind index --------------------------------------------------------------------------------
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_NOT_DIGIT = re.compile(r"[^0-9]")


def normalise(kind: str, value: str) -> str:
    """The form in which a value is hashed: what a person may type differently is folded."""
    value = value.strip()
    if kind == "email":
        return value.lower()
    if kind in ("phone", "card"):
        return _NOT_DIGIT.sub("", value)
    if kind == "order":  # an order number is an exact key of the trading system: nothing is folded
        return value
    # document and registration numbers: case, spaces and separators do not matter
    return _NOT_ALNUM.sub("", value).upper()


def blind_index(kind: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    message = f"{kind}:{normalise(kind, value)}".encode()
    return hmac.new(settings.BLIND_INDEX_KEY.encode(), message, hashlib.sha256).hexdigest()
