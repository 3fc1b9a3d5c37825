"""The record resources by the name the command line uses (``manage.py import_records members``)."""

from __future__ import annotations

from accounts.members.spreadsheets.members import MemberResource
from accounts.members.spreadsheets.related_persons import RelatedPersonResource
from accounts.members.spreadsheets.resource import RecordResource
from accounts.members.spreadsheets.transactions import TransactionRecordResource

#: The resources by the name the command line uses.
RESOURCES: dict[str, type[RecordResource]] = {
    "members": MemberResource,
    "related-persons": RelatedPersonResource,
    "transactions": TransactionRecordResource,
}
