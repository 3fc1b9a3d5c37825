"""Processing on a legal ground other than consent (PP-17, PP-24): the record, its services and reads.

``models`` (the record, re-exported by ``consents.models``), ``services`` (record, approve, end),
``selectors`` (what is in force for a member, a purpose, a moment; the SQL that resolves a group).
"""
