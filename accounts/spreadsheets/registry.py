"""The record resources by the name the command line uses (``manage.py import_records members``)."""

from __future__ import annotations

from accounts.spreadsheets.members import MemberResource
from accounts.spreadsheets.related_persons import RelatedPersonResource
from accounts.spreadsheets.resource import RecordResource
from accounts.spreadsheets.transactions import TransactionRecordResource

#: The resources by the name the command line uses.
RESOURCES: dict[str, type[RecordResource]] = {
    "members": MemberResource,
    "related-persons": RelatedPersonResource,
    "transactions": TransactionRecordResource,
}
