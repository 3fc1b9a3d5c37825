"""Uploaded files are encrypted at rest (PP-26) and never served by URL.

Files are stored under random names (no personal data in paths) and read back only through
``accounts.privacy.views.document_file``, which checks permission and writes an access-log entry.
"""

from __future__ import annotations

import os
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.utils.deconstruct import deconstructible

from accounts.privacy import crypto


@deconstructible
class EncryptedFileSystemStorage(FileSystemStorage):
    def _save(self, name, content):
        content.seek(0)
        token = crypto.encrypt_bytes(content.read())
        return super()._save(name, ContentFile(token))

    def _open(self, name, mode="rb"):
        with super()._open(name, "rb") as handle:
            token = handle.read()
        return ContentFile(crypto.decrypt_bytes(token), name=name)

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


protected_storage = EncryptedFileSystemStorage()


def document_upload_to(instance, filename: str) -> str:
    # The original name may carry a person's name: it is not kept.
    return f"documents/{uuid.uuid4().hex}.bin"
