"""SMS unsubscribe replies: a keyword withdraws the SMS marketing purposes, once per message (PP-12)."""

from __future__ import annotations

import datetime
import logging
import unicodedata
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Member
from accounts.privacy import crypto
from consents.choices import ActorKind, Channel, ConsentAction, SmsOutcome
from consents.ledger import consent_record
from consents.legal_grounds import SMS_WITHDRAWN_PURPOSES
from consents.models import SmsReply
from consents.selectors import (
    policy_version_current,
)

logger = logging.getLogger(__name__)


UNSUBSCRIBE_KEYWORDS = frozenset({"TD", "T", "STOP", "退订"})


def sms_keyword(text: str) -> str:
    """The reply folded for matching: NFKC (full-width letters), no whitespace, upper case."""
    return "".join(unicodedata.normalize("NFKC", text or "").split()).upper()


@dataclass(frozen=True)
class SmsResult:
    reply: SmsReply
    created: bool  # False: this message id was handled before (nothing changed)
    withdrawn: int  # consent events recorded


def sms_reply_receive(
    *, message_id: str, phone: str, text: str, received_at: datetime.datetime | None = None
) -> SmsResult:
    """Handle one inbound SMS reply, once per gateway message id (PP-12).

    The sender is found through the phone blind index; the number itself is never stored or
    logged. An unsubscribe keyword from a member's number withdraws ``SMS_WITHDRAWN_PURPOSES``
    (channel SMS, actor the member, evidence "SMS reply <message id>") from the reply's time. Other
    words and unknown numbers are recorded and change nothing. The reply's text is kept (first 40
    characters) only when it came from a member, whose erasure then removes it.
    """
    received_at = min(received_at or timezone.now(), timezone.now())
    # A sender without digits has no number to look up (its blind index would hash the empty string).
    phone_bidx = (crypto.blind_index("phone", phone) or "") if crypto.normalise("phone", phone or "") else ""
    keyword = sms_keyword(text)
    with transaction.atomic():
        existing = SmsReply.objects.filter(message_id=message_id).first()
        if existing is not None:
            return SmsResult(existing, created=False, withdrawn=0)
        members = list(Member.objects.filter(phone_bidx=phone_bidx).order_by("pk")) if phone_bidx else []
        if not members:
            outcome = SmsOutcome.UNKNOWN_NUMBER
        elif keyword in UNSUBSCRIBE_KEYWORDS:
            outcome = SmsOutcome.WITHDRAWN
        else:
            outcome = SmsOutcome.IGNORED
        try:
            # The unique message id is the idempotency lock: a concurrent delivery of the same
            # message waits on this insert and then fails it, after our withdrawals committed.
            with transaction.atomic():
                reply = SmsReply.objects.create(
                    message_id=message_id, phone_bidx=phone_bidx, member=members[0] if members else None,
                    keyword=keyword[:40] if members else "", outcome=outcome, received_at=received_at,
                )
        except IntegrityError:
            return SmsResult(SmsReply.objects.get(message_id=message_id), created=False, withdrawn=0)
        withdrawn = 0
        if outcome == SmsOutcome.WITHDRAWN:
            version = policy_version_current(at=received_at)
            for member in members:  # a number shared by several accounts unsubscribes them all
                for code in SMS_WITHDRAWN_PURPOSES:
                    consent_record(
                        member=member, purpose=code, action=ConsentAction.WITHDRAW, policy_version=version,
                        channel=Channel.SMS, actor_kind=ActorKind.MEMBER, evidence=f"SMS reply {message_id}",
                        occurred_at=received_at,
                    )
                    withdrawn += 1
    logger.info("SMS reply %s handled: %s, %d withdrawal(s)", reply.pk, outcome, withdrawn)
    return SmsResult(reply, created=True, withdrawn=withdrawn)
