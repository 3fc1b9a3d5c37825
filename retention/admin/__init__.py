"""Retention in the admin: legal holds, erasure runs (four eyes), records, job runs, reviews (issue 5, req 8).

Destructive or releasing steps are admin actions or small forms that call ``retention.services``;
no status field is editable. Records, runs, items and job runs are read-only for everyone.
"""


from retention.admin import erasure_runs, jobs, legal_holds, reviews  # noqa: F401  (each registers its pages)
