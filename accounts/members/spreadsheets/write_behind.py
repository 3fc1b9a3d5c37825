"""A chunk's COPYs sent while the next chunk is checked: the database's work beside Python's (issue 15, members).

Writing a chunk of members by COPY (``accounts.members.history_copy``) leaves Python waiting for
PostgreSQL to store the rows, their history and links and to update some twenty indexes (the
trigram index of the names among them): about a third of the import's time. ``WriteBehind`` sends
a chunk's prepared COPYs from a second thread on the import's own connection (so in its
transaction) and returns; the streamed import (``accounts.members.spreadsheets.streaming``) checks
the next chunk meanwhile, the second thread holding the connection only while it waits for the
server (psycopg releases the GIL then).

The connection is used by one thread at a time: ``submit`` and ``wait`` wait for the chunk before,
and the import calls ``wait`` before its next query of its own and before it leaves its
transaction (``with WriteBehind()``, inside the transaction's block), so no query of the import
runs during, and no COPY outlives, the import's commit or rollback. A
COPY that fails raises its error (as Django's ``DatabaseError``) from the next ``submit`` or
``wait``: the import reports it and rolls everything back, as when it wrote the chunk itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection

from accounts.members import history_copy


class WriteBehind:
    """Sends one chunk's COPYs at a time from a second thread (see the module docstring)."""

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, copies: list[history_copy.Copy]) -> None:
        """Send ``copies`` in the background, after the chunk before is stored."""
        if not copies:
            self.wait()
            return
        self.submit_job(lambda raw: history_copy.write_copies(raw, copies))

    def submit_job(self, job: Callable[[object], None]) -> None:
        """Run ``job(raw connection)`` in the background, after the job before: its queries, then its COPYs.

        The column path of imports (``columnar``) reserves a part's ids there too
        (``history_copy.column_copies``), so the import's thread does not wait for them.
        """
        self.wait()
        raw = connection.connection  # the import's connection, in its transaction

        def send() -> None:
            try:
                job(raw)
            except BaseException as exc:  # raised in the import's thread by ``wait``
                self._error = exc

        self._thread = threading.Thread(target=send, name="import-write-behind", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Wait until the chunk sent last is stored; raise its error, if any (once)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None:
            with connection.wrap_database_errors:
                raise error

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        """Leaving the import's transaction: the chunk still being sent finishes first, whatever happened."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if kind is None:
            self.wait()  # an error not yet reported is the import's
        self._error = None  # else the import fails already: its own error is the one reported
