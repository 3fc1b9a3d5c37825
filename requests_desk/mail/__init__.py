"""Inbound e-mail of the request desk (requirement 4, PP-14), one module a step:

- ``parse``: one RFC 5322 message read into a ``ParsedMail`` (or ``UnreadableMail``), nothing stored;
- ``ingest``: one message kept, threaded onto its request or opening an enquiry (``mail_ingest``);
- ``directory``: a directory of ``*.eml`` files read under a lock, with quarantine (``mail_directory_ingest``).
"""
