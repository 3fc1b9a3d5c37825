"""The request desk in the Django admin (issue 6, requirement 10) for compliance officers and supervisors.

- **Requests**: filters by type, status, assignee and deadline (overdue / due soon); member data
  masked (the member by number, the requester's e-mail masked with a logged reveal); messages,
  transitions, identity checks and access packages listed read-only on the request's page. The
  status and the timestamps are never editable: every change of state goes through
  ``requests_desk.workflow.transition``.
- **Bulk actions on the filtered results** ("select all N" included): close duplicates, assign to
  an agent, extend the deadline (intermediate forms) and fulfil per type. Each request is handled
  on its own, through the state machine (``workflow.transition`` / the services and fulfilment that
  call it); a request that cannot be changed is reported by reference with the reason, and the
  others still go through. Never a 500.
- **Access packages, package downloads, reminders, transitions**: read-only.

Every changelist and change page runs a bounded number of queries (``list_select_related``,
inlines with ``select_related``/annotations), asserted by ``tests/requests_desk/test_requests_admin.py``.

One module a part: ``requests`` (the request page and its bulk actions), ``registers`` (the read-only
pages), ``forms``, ``inlines`` and ``filters`` of the request page; ``base`` holds what they share.
Importing the package registers every page.
"""

from requests_desk.admin import registers, requests

__all__ = ["registers", "requests"]
