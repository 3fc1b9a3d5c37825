"""Member records in and out of spreadsheets (issue 3, requirement 10), one module per step.

- ``cells``: what one cell holds — formula escaping for every export (design decision 8) and the
  text of a cell read back in.
- ``problems``: why an import is refused (a line or column of the file, an unreadable file, a
  missing source; PP-16). Never a value from the file.
- ``formats``: reading CSV and XLSX into a dataset that remembers each record's line in the file.
- ``widgets``: reading and writing one column (text, choices, dates, numbers, ids, member numbers,
  product lines).
- ``resource``: ``RecordResource``, the checks and the all-or-nothing import every record kind
  shares, its result, preview diff and bulk loader of existing records; safe exports (PP-25).
- ``members``, ``related_persons``, ``transactions``: one resource per record kind;
  ``registry``: the resources by the name the command line uses.
- ``writes``: the bulk writes behind an import, its record (PP-16) and the export access log.
- ``imports``: an import end to end, for ``manage.py import_records`` and the tests.

The package itself imports none of them: import the step you need.
"""
