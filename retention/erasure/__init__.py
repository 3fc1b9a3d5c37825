"""The erasure engine (PP-02, PP-29, PP-33, PP-37, PP-42; design decision 5).

``runner.erase_members`` makes members' personal data unrecoverable everywhere the back office
keeps it, as the data map (``accounts.privacy.datamap``) says, field by field. It reaches live rows,
simple-history rows (``Historical*`` and their many-to-many history), many-to-many link rows, files
(live *and* older versions named only in history), admin ``LogEntry`` rows of the erased objects
(their object label and change message are emptied), copies of the member number kept as text
elsewhere (any ``member_number`` column, e.g. the access log and erasure-run items, is rewritten to
the tombstone's number) and cache keys registered with ``cache_keys.register_cache_keys``.

**Set-based.** Per chunk of members (``ERASURE_CHUNK_SIZE``), each model gets at most one
``UPDATE``/``DELETE`` per retention group (running / passed / catch-up). The number of queries per
chunk depends on the number of models, never on the number of members or rows
(``tests/retention/test_engine.py`` asserts it; for the current data map of 33 models, 33 queries
per chunk on PostgreSQL, plus two per 2,000 files for the drain after commit). One query first
asks which models hold any row of the chunk's members, so models with nothing to change cost no
statement.

The steps, one module each (each module's docstring says what its step does):

================  ================================================================================
``plan``          the data map read into one plan per model, children first, and what each field
                  becomes per retention mode; a declaration the engine cannot honour fails here
``runner``        ``erase_members``: the chunks of one erasure, the run's status, the result;
                  a failed chunk is retried member by member
``chunk``         one chunk, one transaction: lock, re-select, legal holds, erase, records, commit
``apply``         the chunk's statements in order: log entries, probe, member rows, every model
``statements``    one set-based UPDATE/DELETE per model, rows counted per member, ``on_delete``
                  emulated
``probe``         which models hold any row of the chunk's members, in one query
``references``    admin log entries and copies of the member number kept elsewhere
``tombstones``    what an erased member row becomes, and its random member number
``records``       one erasure record per erased member, under a keyed hash of its number
``run_items``     the run's items (status, error) and its row counts
``cache_keys``    cache keys of members' data, deleted after each chunk commits
``expiry``        retention catch-up: what tombstones kept is anonymised once retention passed
``reapply``       after a database restore, members with an erasure record are erased again
``claims``        a run spread over workers: claimers take its pending items with ``SKIP LOCKED``
``tasks``         the Celery tasks ``retention.erase_run`` (start, fan out) and ``erase_run_chunk``
``state``         a chunk's working state, passed to every step of the chunk
``expressions``   per-row random tokens and the chunk's ``IN`` filter, in SQL
================  ================================================================================

``retention`` imports ``accounts`` only: every other app's data is reached through the data map.
This package module imports nothing: import the step you need (``from retention.erasure import
runner``).
"""
