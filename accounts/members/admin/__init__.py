"""The compliance officers' admin of members and everything kept about them (issue 3, req. 9).

- Sensitive values are masked everywhere (list, change pages, inlines, history); revealing one is a
  logged, reason-checked page (``accounts.privacy.views.reveal_value``), downloading a document file too
  (``accounts.privacy.views.document_file``). See ``accounts.privacy.admin_mixins``.
- Every changelist and change page runs a bounded number of queries whatever the number of rows
  (``list_select_related``, ``raw_id_fields``/``autocomplete_fields``, select_related inlines);
  members, devices, transactions and the access log never run a full ``COUNT(*)``.
- Nobody deletes members' records here: erasure (retention) does, honouring legal holds (PP-02, PP-29).

Modules: ``members`` (the member page and its inlines), ``records`` (each record kind on its own
page), ``imports`` (CSV/XLSX import and export, all or nothing), ``base`` (shared columns).
"""
