"""Issue 15 requirement 4: the access package is built, stored, downloaded and rotated in bounded memory.

A package larger than ``PROTECTED_FILE_SEGMENT_BYTES`` is stored as a sequence of Fernet tokens
(``accounts.privacy.segments``); the download decrypts it a segment at a time; key rotation
re-encrypts it a segment at a time; packages stored as one token before still download.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import tempfile
import tracemalloc
import zipfile

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.files import File
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import TransactionRecord
from accounts.privacy import crypto, rotation, segments
from accounts.privacy.storage import protected_storage
from requests_desk import access_package, package_build
from requests_desk.choices import PackageStatus
from requests_desk.models import AccessPackage
from tests.requests_desk.test_package_build import approve, awaiting_approval, letters

pytestmark = pytest.mark.django_db

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def built_package(agent, officer, capture, transactions: int) -> AccessPackage:
    request = awaiting_approval(agent, transactions=transactions)
    approve(request, officer, capture, execute=True)
    package = AccessPackage.objects.get(request=request)
    assert package.status == PackageStatus.READY, package.error
    return package


def stored_tokens(name: str) -> list[bytes]:
    with open(protected_storage.path(name), "rb") as handle:
        segments.read_header(handle)
        return list(segments.iter_tokens(handle))


def download(client, package: AccessPackage) -> bytes:
    link = next(line for line in letters()[-1].body.splitlines() if "/packages/" in line).strip()
    token = link.rstrip("/").rsplit("/", 1)[-1]
    response = client.get(reverse("packages:download", args=[token]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)
    return body


def test_pp29_a_package_stored_in_tiny_segments_downloads_byte_identical_with_every_row(
        agent, compliance_officer, client, settings, django_capture_on_commit_callbacks):
    settings.PROTECTED_FILE_SEGMENT_BYTES = 4096
    package = built_package(agent, compliance_officer, django_capture_on_commit_callbacks, transactions=300)
    name = package.file.name
    raw = protected_storage.read_ciphertext(name)
    assert segments.is_segmented(raw) and not raw.startswith(b"PK")
    tokens = stored_tokens(name)
    assert len(tokens) >= 3  # really segmented at this size
    body = download(client, package)
    assert body == protected_storage.open(name).read()  # streamed == read whole
    assert body == b"".join(crypto.decrypt_bytes(t)[9:] for t in tokens)  # index and flag stripped
    records = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("transaction.json"))["records"]
    orders = {r["record_id"]: r["fields"] for r in records if r["record_type"] == "Transaction record"}
    expected = dict(TransactionRecord.objects.filter(member=package.member).values_list("pk", "order_number"))
    assert len(orders) == 300 == len(expected)
    assert {pk: next(v for k, v in f.items() if "rder" in k) for pk, f in orders.items()} == expected


def test_pp29_a_package_stored_as_one_token_before_segments_still_downloads(
        agent, compliance_officer, client, django_capture_on_commit_callbacks):
    """A package written by the earlier code (the whole ZIP one Fernet token) is read as it was."""
    package = built_package(agent, compliance_officer, django_capture_on_commit_callbacks, transactions=5)
    data = access_package.package_open(package)
    protected_storage.write_ciphertext(package.file.name, crypto.encrypt_bytes(data))  # the old format
    assert not segments.is_segmented(protected_storage.read_ciphertext(package.file.name))
    assert download(client, package) == data


def test_pp26_segments_reordered_dropped_or_cut_off_are_refused():
    plain = bytes(range(256)) * 40
    stored = b"".join(segments.encrypt_chunks([plain[:3000], plain[3000:]], size=len(plain), segment_bytes=1000))
    handle = io.BytesIO(stored)
    segments.read_header(handle)
    tokens = list(segments.iter_tokens(handle))
    assert len(tokens) == 11 and b"".join(segments.iter_plaintext(io.BytesIO(stored))) == plain
    head = stored[:segments.HEADER_SIZE]

    def file_of(parts):
        return io.BytesIO(head + b"".join(len(t).to_bytes(4, "big") + t for t in parts))

    for damaged in (tokens[1:2] + tokens[:1] + tokens[2:], tokens[:-1], tokens + tokens[-1:]):
        with pytest.raises(segments.SegmentError):
            b"".join(segments.iter_plaintext(file_of(damaged)))
    with pytest.raises(segments.SegmentError):
        b"".join(segments.iter_plaintext(io.BytesIO(stored[:-10])))


def _peak_during_build(agent, officer, capture, rows: int) -> tuple[int, int]:
    request = awaiting_approval(agent, transactions=rows)
    approve(request, officer, capture, execute=False)
    package = AccessPackage.objects.get(request=request)
    tracemalloc.start()
    try:
        assert package_build.access_package_run(package.pk).outcome == "ready"
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    package.refresh_from_db()
    return peak, protected_storage.size(package.file.name)


def test_pp29_build_memory_stays_bounded_when_the_member_has_ten_times_the_rows(
        agent, compliance_officer, monkeypatch, settings, django_capture_on_commit_callbacks):
    """Python's peak allocation while the worker builds and stores the package of N and 10N rows: the
    stored file grows several-fold, the peak far less (rows stream in chunks, the file in segments).
    At these sizes the ZIP is small next to Django's own allocations, so this guards the row streaming;
    the segments' bound is shown by the next test on 2 vs 20 MiB files."""
    monkeypatch.setattr(access_package.records, "CHUNK_SIZE", 100)
    settings.PROTECTED_FILE_SEGMENT_BYTES = 16 * 1024
    settings.DEBUG = False  # no query log growing with the chunks
    _peak_during_build(agent, compliance_officer, django_capture_on_commit_callbacks, 20)  # warm caches
    small_peak, small_size = _peak_during_build(agent, compliance_officer, django_capture_on_commit_callbacks, 300)
    big_peak, big_size = _peak_during_build(agent, compliance_officer, django_capture_on_commit_callbacks, 3000)
    assert big_size > 4 * small_size
    assert big_peak < 1.6 * small_peak, (small_peak, big_peak)


def test_pp29_build_queries_do_not_grow_with_segments_or_rows(
        agent, compliance_officer, monkeypatch, settings, django_capture_on_commit_callbacks,
        django_assert_max_num_queries):
    """Segments are written by the storage, not the database: 10x the rows and segments add only the
    per-chunk progress updates (and the iterator's fetches)."""
    monkeypatch.setattr(access_package.records, "CHUNK_SIZE", 50)
    settings.PROTECTED_FILE_SEGMENT_BYTES = 2048
    counts = []
    for rows in (20, 200):
        request = awaiting_approval(agent, transactions=rows)
        approve(request, compliance_officer, django_capture_on_commit_callbacks, execute=False)
        package = AccessPackage.objects.get(request=request)
        with django_assert_max_num_queries(120) as queries:
            assert package_build.access_package_run(package.pk).outcome == "ready"
        counts.append(len(queries))
        assert len(stored_tokens(AccessPackage.objects.get(pk=package.pk).file.name)) > rows // 40
    assert counts[1] - counts[0] <= 2 * (200 // 50) + 2


def test_pp26_rotation_re_encrypts_a_segmented_package_segment_by_segment(
        agent, compliance_officer, client, settings, django_capture_on_commit_callbacks):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    settings.PROTECTED_FILE_SEGMENT_BYTES = 4096
    package = built_package(agent, compliance_officer, django_capture_on_commit_callbacks, transactions=200)
    before = access_package.package_open(package)
    assert len(stored_tokens(package.file.name)) >= 3
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    report = rotation.rotate_keys(only=[AccessPackage])
    assert report.table("requests_desk_accesspackage.file (files)").rotated == 1
    for token in stored_tokens(package.file.name):  # every segment under the new key only
        Fernet(KEY_B.encode()).decrypt(token)
        with pytest.raises(InvalidToken):
            Fernet(KEY_A.encode()).decrypt(token)
    assert download(client, package) == before
    again = rotation.rotate_keys(only=[AccessPackage])
    assert again.table("requests_desk_accesspackage.file (files)").current == 1
    assert again.rotated == 0


def test_pp02_a_build_killed_while_storing_leaves_its_file_named_and_the_rerun_removes_it(
        agent, compliance_officer, monkeypatch, settings, django_capture_on_commit_callbacks):
    """The file's name is on the row before its first byte: the rerun (or an erasure) finds the
    partial ciphertext of the killed build; the rebuild then finishes with a new file."""
    settings.PROTECTED_FILE_SEGMENT_BYTES = 1024
    request = awaiting_approval(agent, transactions=60)
    approve(request, compliance_officer, django_capture_on_commit_callbacks, execute=False)
    package = AccessPackage.objects.get(request=request)
    real_encrypt = crypto.encrypt_bytes
    calls = []

    def killed(data):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the worker is killed half-way through the segments
        return real_encrypt(data)

    monkeypatch.setattr(crypto, "encrypt_bytes", killed)
    with pytest.raises(KeyboardInterrupt):
        package_build.access_package_run(package.pk)
    monkeypatch.setattr(crypto, "encrypt_bytes", real_encrypt)
    package.refresh_from_db()
    partial = package.file.name
    assert package.status == PackageStatus.BUILDING and partial and protected_storage.exists(partial)
    later = timezone.now() + package_build.STALE + datetime.timedelta(seconds=1)
    assert package_build.access_package_run(package.pk, now=later).outcome == "ready"
    package.refresh_from_db()
    assert not protected_storage.exists(partial) and package.file.name != partial
    assert zipfile.ZipFile(io.BytesIO(access_package.package_open(package))).read("README.txt")


def test_small_protected_files_stay_one_fernet_token(settings):
    settings.PROTECTED_FILE_SEGMENT_BYTES = 1 << 20
    name = protected_storage.save("documents/segment-test.bin", ContentFile(b"face capture"))
    try:
        assert crypto.decrypt_bytes(protected_storage.read_ciphertext(name)) == b"face capture"
    finally:
        protected_storage.delete(name)


def _peak_storing_and_streaming(size: int) -> int:
    """Python's peak while a ``size``-byte file (incompressible, as a ZIP is) is stored and streamed back."""
    with tempfile.TemporaryFile() as source:
        for _ in range(size // (1 << 20)):
            source.write(os.urandom(1 << 20))
        source.seek(0)
        tracemalloc.start()
        try:
            name = protected_storage.save("requests/segment-memory.bin", File(source))
            stream = protected_storage.open_plaintext(name)
            total = sum(len(chunk) for chunk in stream)
            stream.close()
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            protected_storage.delete(name)
    assert total == size == stream.size
    return peak


def test_pp29_storing_and_downloading_a_package_ten_times_larger_needs_no_more_memory(settings):
    """Before segments, a 20 MiB package meant its plaintext, ciphertext and base64 in memory at once
    (three times its size): now one 64 KiB segment is, whatever the size."""
    settings.PROTECTED_FILE_SEGMENT_BYTES = 64 * 1024
    small = _peak_storing_and_streaming(2 << 20)
    big = _peak_storing_and_streaming(20 << 20)
    assert big < 1.5 * small and big < 2 << 20, (small, big)
