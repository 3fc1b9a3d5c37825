"""Scheduled jobs as plain functions: chunked, idempotent, returning counts (design decision 6).

A Celery task (``retention/tasks.py``) and a management command call each one. Every real run
records a ``JobRun`` row with its counts (shown read-only in the admin); a dry run reports what
would happen and writes nothing at all, not even its ``JobRun`` (``results``).

Erasing jobs hand their members to the engine (``retention.erasure.runner.erase_members``, through
``erasing``), which works in chunks, each in its own transaction under a lock, re-selects inside
the lock who still qualifies (``eligible``), skips members under legal hold and writes the erasure
records.

One module per job (import the job from its module, e.g. ``from retention.jobs.cancelled import
anonymise_cancelled``; this package module imports nothing):

=====================  ===========================================================================
``sessions``           ``clear_expired_sessions``: expired staff login sessions
``cancelled``          ``anonymise_cancelled``: members cancelled past the grace period (PP-33)
``legal_retention``    ``expire_legal_retention``: what tombstones kept once retention passed (PP-13)
``under_14``           ``purge_under_14``: members under 14 and confirmed underage reports (PP-37)
``security_data``      ``expire_security_data``: old device and staff sign-in records (PP-11)
``shutdown``           ``shutdown_service``: a closed product line, its members told first (PP-19)
``erasure_records``    ``copy_erasure_records``: the erasure records copied off the database (PP-02)
``deidentified``       ``export_deidentified``: the de-identified research dataset (PP-18)
``reviews``            ``send_review_reminders``: reviews and assessments falling due (PP-27)
=====================  ===========================================================================

``results`` (``JobResult`` and the ``JobRun`` of each run) and ``erasing`` (members handed to the
engine) are what the jobs share.
"""
