"""Uploaded files are encrypted at rest (PP-26) and never served by URL.

Files are stored under random names (no personal data in paths) and read back only through
``accounts.privacy.views.document_file``, which checks permission and writes an access-log entry.

A file larger than ``PROTECTED_FILE_SEGMENT_BYTES`` is encrypted in segments
(``accounts.privacy.segments``) so that storing, reading (``open_plaintext``) and rotating it
(``rotate_file``) hold one segment in memory at a time; smaller files stay one Fernet token.
Both formats are read, so files stored before segments existed still open and rotate.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.utils.deconstruct import deconstructible

from accounts.privacy import crypto, segments

#: Plaintext slices handed out when a one-token file is streamed.
STREAM_CHUNK = 1 << 16


class _EncryptedChunks:
    """What ``FileSystemStorage._save`` writes: a file's segments, encrypted as they are read."""

    def __init__(self, content, segment_bytes: int):
        self.content = content
        self.segment_bytes = segment_bytes

    def chunks(self):
        self.content.seek(0)
        return segments.encrypt_chunks(self.content.chunks(self.segment_bytes), size=self.content.size,
                                       segment_bytes=self.segment_bytes)


class PlainFile:
    """A protected file's plaintext as an iterator of byte chunks, with its size known up front.

    ``StreamingHttpResponse`` closes it when the response ends (it has ``close``).
    """

    def __init__(self, handle, size: int, chunks: Iterator[bytes]):
        self._handle = handle
        self.size = size
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _slices(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), STREAM_CHUNK):
        yield bytes(view[start : start + STREAM_CHUNK])


@deconstructible
class EncryptedFileSystemStorage(FileSystemStorage):
    def _save(self, name, content):
        segment_bytes = settings.PROTECTED_FILE_SEGMENT_BYTES
        if content.size > segment_bytes:
            return super()._save(name, _EncryptedChunks(content, segment_bytes))
        content.seek(0)
        token = crypto.encrypt_bytes(content.read())
        return super()._save(name, ContentFile(token))

    def _open(self, name, mode="rb"):
        with super()._open(name, "rb") as handle:
            if segments.is_segmented(handle.read(len(segments.MAGIC))):
                handle.seek(0)
                return ContentFile(b"".join(segments.iter_plaintext(handle)), name=name)
            handle.seek(0)
            token = handle.read()
        return ContentFile(crypto.decrypt_bytes(token), name=name)

    def open_plaintext(self, name) -> PlainFile:
        """The decrypted file, streamed: a segment at a time (a one-token file is decrypted at once).

        Raises ``FileNotFoundError`` now, not half-way through a response.
        """
        handle = super()._open(name, "rb")
        if segments.is_segmented(handle.read(len(segments.MAGIC))):
            handle.seek(0)
            try:
                size, _segment = segments.read_header(handle)
            except BaseException:
                handle.close()
                raise
            handle.seek(0)
            return PlainFile(handle, size, segments.iter_plaintext(handle))
        with handle:
            handle.seek(0)
            data = crypto.decrypt_bytes(handle.read())
        return PlainFile(None, len(data), _slices(data))

    def url(self, name):
        raise NotImplementedError("Protected files have no URL; use the permission-checked download view.")

    def read_ciphertext(self, name) -> bytes:
        with super()._open(name, "rb") as handle:
            return handle.read()

    def write_ciphertext(self, name, token: bytes) -> None:
        """Replace a file's ciphertext in place (key rotation)."""
        path = self.path(name)
        tmp = f"{path}.rotating"
        with open(tmp, "wb") as handle:
            handle.write(token)
        os.replace(tmp, path)

    def rotate_file(self, name, *, dry_run: bool = False) -> bool:
        """Re-encrypt a file under the primary key; False when it already was (nothing written).

        A segmented file is rewritten a segment at a time into a sibling file that replaces it
        atomically, so a rotation killed half-way leaves the old file whole. Raises
        ``FileNotFoundError`` or ``crypto.DecryptionError`` (no configured key decrypts it).
        """
        with super()._open(name, "rb") as handle:
            if not segments.is_segmented(handle.read(len(segments.MAGIC))):
                handle.seek(0)
                token = handle.read()
                if crypto.is_current(token):
                    return False
                rotated = crypto.rotate_bytes(token)
                if not dry_run:
                    self.write_ciphertext(name, rotated)
                return True
            handle.seek(0)
            if dry_run:
                return any(changed for _data, changed in segments.rotate_tokens(handle))
            path = self.path(name)
            tmp = f"{path}.rotating"
            changed = False
            try:
                with open(tmp, "wb") as out:
                    for data, rotated in segments.rotate_tokens(handle):
                        out.write(data)
                        changed = changed or rotated
            except BaseException:
                os.unlink(tmp)
                raise
        if changed:
            os.replace(tmp, path)
        else:
            os.unlink(tmp)
        return changed


protected_storage = EncryptedFileSystemStorage()


def document_upload_to(instance, filename: str) -> str:
    # The original name may carry a person's name: it is not kept.
    return f"documents/{uuid.uuid4().hex}.bin"
