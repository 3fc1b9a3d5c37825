"""The accounts app's tables, each defined in the room it belongs to and registered here.

- ``accounts.staff.models``: the back-office logins;
- ``accounts.privacy.models``: the sensitive-data access log;
- ``accounts.members.models``: members and the records about them; ``accounts.members.orders``: their
  orders and daily volumes; ``accounts.members.import_batches``: the imports they came in;
- ``accounts.dispatch.models``: the task outbox and the scheduled-job slots (issue 12).

Django loads an app's models from ``<app>.models``; importing them here is what registers them.
App label, table names and migrations are those of the one ``accounts`` app.
"""

from accounts.dispatch.models import OutboxTask, ScheduledRun
from accounts.members.import_batches import ImportBatch
from accounts.members.models import (
    ADULT_AGE,
    CHILD_AGE_LIMIT,
    DeviceRecord,
    IdentityDocument,
    InstitutionProfile,
    Member,
    PaymentInstrument,
    ProductLine,
    RelatedPerson,
    Verification,
    age_on,
)
from accounts.members.orders import MemberDailyVolume, TransactionRecord
from accounts.privacy.models import SensitiveAccessLog
from accounts.staff.models import StaffUser, StaffUserManager

__all__ = [
    "ADULT_AGE", "CHILD_AGE_LIMIT", "DeviceRecord", "IdentityDocument", "ImportBatch", "InstitutionProfile",
    "Member", "MemberDailyVolume", "OutboxTask", "PaymentInstrument", "ProductLine", "RelatedPerson", "ScheduledRun",
    "SensitiveAccessLog", "StaffUser", "StaffUserManager", "TransactionRecord", "Verification", "age_on",
]
