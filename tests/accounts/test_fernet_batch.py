"""Issue 15, requirement 2: ``accounts.privacy.fernet_batch`` makes Fernet's own tokens, a column at a time.

The import encrypts every value of a column in one call (``crypto.encrypt_many``); these tests hold
the batch encoder to ``cryptography``'s ``Fernet`` byte for byte and to the MultiFernet that reads
every stored value, and the prepared HMAC (blind indexes, token signatures) to ``hmac.digest``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import pytest
from cryptography.fernet import Fernet, MultiFernet

from accounts.privacy import crypto
from accounts.privacy.fernet_batch import FernetBatch, prepared_hmac

#: Lengths around every block boundary up to four blocks, and the empty value.
VALUES = [bytes(range(65, 65 + n % 26)) * (1 + n // 26) for n in range(0, 26)] + [
    b"x" * n for n in (15, 16, 17, 31, 32, 33, 47, 48, 49, 64)
] + ["导入 12 — ü".encode(), b"\x00\xff" * 9]


def test_pp26_batch_tokens_are_byte_for_byte_fernets_for_the_same_time_and_ivs():
    key = Fernet.generate_key()
    ivs = os.urandom(16 * len(VALUES))

    tokens = FernetBatch(key).encrypt_many(VALUES, now=1_765_000_000, ivs=ivs)

    fernet = Fernet(key)
    expected = [fernet._encrypt_from_parts(value, 1_765_000_000, ivs[16 * i:16 * i + 16])
                for i, value in enumerate(VALUES)]
    assert tokens == expected


def test_pp26_batch_tokens_decrypt_with_the_multifernet_of_the_settings(settings):
    """What the import writes is read back by the code that reads every encrypted column."""
    old = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    plaintexts = [value.decode("utf-8", "replace") for value in VALUES]

    tokens = crypto.encrypt_many(plaintexts)

    assert [crypto.decrypt_str(token) for token in tokens] == plaintexts
    assert all(crypto.is_current(token) for token in tokens)  # under the primary key, not the old one
    multi = MultiFernet([Fernet(key.encode()) for key in settings.FIELD_ENCRYPTION_KEYS])
    assert [multi.decrypt(token.encode()) for token in tokens] == [p.encode() for p in plaintexts]


def test_pp26_every_value_gets_its_own_iv_and_equal_values_differ():
    key = Fernet.generate_key()

    tokens = FernetBatch(key).encrypt_many([b"12.50"] * 50)

    raw = [base64.urlsafe_b64decode(token) for token in tokens]
    assert len({token[9:25] for token in raw}) == 50  # the IVs
    assert len(set(tokens)) == 50
    assert all(Fernet(key).decrypt(token) == b"12.50" for token in tokens)


def test_batch_refuses_a_bad_key_and_ivs_of_the_wrong_length():
    with pytest.raises(ValueError):
        FernetBatch(base64.urlsafe_b64encode(b"short"))
    with pytest.raises(ValueError):
        FernetBatch(Fernet.generate_key()).encrypt_many([b"a", b"b"], ivs=os.urandom(16))
    assert FernetBatch(Fernet.generate_key()).encrypt_many([]) == []


@pytest.mark.parametrize("key", [b"", b"k", os.urandom(16), os.urandom(64), os.urandom(65), os.urandom(200)])
def test_prepared_hmac_is_hmac_sha256(key):
    digest = prepared_hmac(key)

    for message in (b"", b"order:T0000000001", os.urandom(1000)):
        assert digest(message) == hmac.digest(key, message, hashlib.sha256)


def test_pp26_blind_index_is_unchanged_by_the_prepared_hmac(settings):
    """Stored blind indexes stay findable: the same hex HMAC as before, and a new key gives new ones."""
    expected = hmac.new(settings.BLIND_INDEX_KEY.encode(), b"email:a@example.com", hashlib.sha256).hexdigest()

    assert crypto.blind_index("email", " A@Example.com ") == expected
    settings.BLIND_INDEX_KEY = "another-key-for-this-test-0123456789abcdef"
    assert crypto.blind_index("email", "a@example.com") != expected
