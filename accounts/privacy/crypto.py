"""Field encryption and blind indexes (PP-26, design decision 2).

- Values are encrypted with ``cryptography``'s MultiFernet: the first key of
  ``FIELD_ENCRYPTION_KEYS`` encrypts, every key decrypts, so keys rotate without downtime.
- Exact-value lookups use a blind index: HMAC-SHA256 under ``BLIND_INDEX_KEY`` of the normalised
  value, prefixed with a *kind* so that the same value hashes alike wherever it is stored under
  that kind (an ID number on a document and on a related person) and differently otherwise.
"""

from __future__ import annotations

import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from accounts.privacy.fernet_batch import FernetBatch, prepared_hmac


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key (no value in the message)."""


@lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


@lru_cache(maxsize=8)
def _primary(key: str) -> Fernet:
    return Fernet(key.encode())


@lru_cache(maxsize=8)
def _primary_batch(key: str) -> FernetBatch:
    return FernetBatch(key.encode())


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
    """``encrypt_str`` of a column of values, under the primary key looked up once.

    Each value is its own Fernet token (its own random IV), in the format ``Fernet.encrypt`` makes
    and the MultiFernet decrypts; ``accounts.privacy.fernet_batch`` makes them a column at a time
    with ``cryptography``'s AES (issue 15: about a quarter of the cost per value).
    """
    batch = _primary_batch(keys()[0])
    return [token.decode("ascii") for token in batch.encrypt_many([value.encode() for value in values])]


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


@lru_cache(maxsize=8)
def _blind_hmac(key: str):
    return prepared_hmac(key.encode())


def blind_index(kind: str, value: str | None) -> str | None:
    """HMAC-SHA256 under ``BLIND_INDEX_KEY`` of ``kind:normalised value``, hex (the key's pads hashed once)."""
    if value is None or value == "":
        return None
    message = f"{kind}:{normalise(kind, value)}".encode()
    return _blind_hmac(settings.BLIND_INDEX_KEY)(message).hex()


def blind_index_many(kind: str, values: list[str | None]) -> list[str | None]:
    """``blind_index`` of a column of values, the key and its prepared HMAC looked up once (imports, issue 15)."""
    mac = _blind_hmac(settings.BLIND_INDEX_KEY)
    return [None if value is None or value == "" else mac(f"{kind}:{normalise(kind, value)}".encode()).hex()
            for value in values]
