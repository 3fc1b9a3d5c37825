"""Reads of the accounts app."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from accounts.members.choices import VerificationLevel
from accounts.members.models import (
    IdentityDocument,
    InstitutionProfile,
    Member,
    PaymentInstrument,
    RelatedPerson,
    age_on,
)
from accounts.members.names import name_search_q
from accounts.members.orders import MemberDailyVolume, TransactionRecord
from accounts.members.volumes import day_of
from accounts.privacy import crypto
from accounts.privacy.datamap import service_scoped_models


def advanced_verification_threshold() -> tuple[Decimal, int]:
    conf = settings.ADVANCED_VERIFICATION_THRESHOLD
    return Decimal(str(conf["amount"])), int(conf["window_days"])


def members_needing_advanced_verification(*, now: datetime.datetime | None = None) -> QuerySet[Member]:
    """Members whose volume in the window exceeds the threshold without advanced verification (PP-10).

    Amounts are encrypted (PP-01): the sums read the plain per-member daily volumes
    (``MemberDailyVolume``, kept exact by every write path, ``accounts.members.volumes``). The
    window counts whole UTC days: every day from the day ``window_days`` before ``now`` (its whole
    day, so an order is never missed at the edge) through today. One aggregate query: the sums are
    a subquery of the member query (served by the ``accounts_volume_day_member`` index).
    """
    amount, window_days = advanced_verification_threshold()
    since = day_of((now or timezone.now()) - datetime.timedelta(days=window_days))
    over = (
        MemberDailyVolume.objects.filter(day__gte=since)
        .order_by()
        .values("member_id")
        .annotate(volume=Sum("amount"))
        .filter(volume__gt=amount)
        .values("member_id")
    )
    return Member.objects.filter(pk__in=over).exclude(verification_level=VerificationLevel.ADVANCED)


def transactions_by_order_number(value: str) -> QuerySet[TransactionRecord]:
    """The order with exactly this number, through its blind index (nothing decrypted; PP-13)."""
    return TransactionRecord.objects.filter(order_number_bidx=crypto.blind_index("order", (value or "").strip()))


def member_ids_by_exact_value(value: str, *, limit: int = 1000) -> list[int]:
    """Keys of the members matching ``value`` exactly as an e-mail, phone, document or card number.

    Blind-index lookups only: nothing is decrypted. One query, a ``UNION`` of five indexed
    equalities: each branch is an index scan, whereas an ``OR`` of the same conditions (some of
    them ``IN (subquery)``) makes PostgreSQL scan the whole member table (seconds at 1M members).
    """
    value = (value or "").strip()
    if not value:
        return []
    email = crypto.blind_index("email", value)
    phone = crypto.blind_index("phone", value)
    document = crypto.blind_index("document", value)
    card = crypto.blind_index("card", value)
    branches = [
        Member.objects.filter(email_bidx=email).values_list("pk"),
        Member.objects.filter(phone_bidx=phone).values_list("pk"),
        IdentityDocument.objects.filter(number_bidx=document).values_list("member_id"),
        PaymentInstrument.objects.filter(number_bidx=card).values_list("member_id"),
        RelatedPerson.objects.filter(email_bidx=email).values_list("member_id"),
        RelatedPerson.objects.filter(phone_bidx=phone).values_list("member_id"),
    ]
    union = branches[0].order_by().union(*(b.order_by() for b in branches[1:]))
    return [pk for (pk,) in union[:limit]]


def member_ids_by_related_name(term: str, *, limit: int = 2000) -> list[int]:
    """Keys of the members whose institution profile or one of whose related persons is named ``term``.

    A name search (``accounts.members.names``: partial, case- and accent-insensitive, either script).
    One query, a ``UNION`` of two lookups each served by its table's trigram index; the keys are
    fetched first so the changelist's query stays a set of index scans (see above). At most
    ``limit`` keys: a term matching thousands of institutions is narrowed by the officer.
    """
    condition = name_search_q(term)
    if condition is None:
        return []
    people = RelatedPerson.objects.filter(condition).values_list("member_id").order_by()
    profiles = InstitutionProfile.objects.filter(condition).values_list("member_id").order_by()
    return [pk for (pk,) in people.union(profiles)[:limit]]


def members_by_name(term: str) -> QuerySet[Member]:
    """Members named ``term`` themselves or through their institution profile or related persons."""
    condition = name_search_q(term)
    if condition is None:
        return Member.objects.none()
    return Member.objects.filter(condition | Q(pk__in=member_ids_by_related_name(term)))


def members_by_exact_value(value: str) -> QuerySet[Member]:
    """Members matching ``value`` exactly as an e-mail, phone, document or card number (see above)."""
    return Member.objects.filter(pk__in=member_ids_by_exact_value(value))


def members_possibly_under(age: int, *, on: datetime.date) -> QuerySet[Member]:
    """Members who may be under ``age`` on ``on``, selected in SQL on the plain birth year (PP-03, PP-37).

    Someone born in year ``on.year - age`` is ``age`` or ``age - 1`` on ``on`` depending on the
    birthday; anyone born later is certainly under ``age``, anyone born earlier certainly is not.
    So the candidates are ``birth_year >= on.year - age`` (served by ``accounts_member_birth_year``);
    ``members_under`` decrypts only these for the exact check. Members without a date of birth
    have no birth year and are not candidates.
    """
    return Member.objects.filter(birth_year__gte=on.year - age)


def members_under(age: int, *, on: datetime.date) -> list[Member]:
    """Members exactly under ``age`` on ``on``: one query for the candidates, decrypted one by one.

    Only the candidate rows of ``members_possibly_under`` are read and decrypted, never the table.
    """
    return [
        member
        for member in members_possibly_under(age, on=on).order_by("pk").iterator(chunk_size=2000)
        if member.date_of_birth and age_on(member.date_of_birth, on) < age
    ]


def rows_without_product_line() -> list[tuple[str, str, int, int]]:
    """Rows of data of a service that carry no product line yet (PP-19), per model and member.

    ``(model label, member number, product lines the member uses, rows)``, by model and member
    number: what the attribution migration (``0010_product_line_attribution``) could not assign
    because the member uses several lines or none. Member numbers only, never a personal value;
    one ``GROUP BY`` per model the data map declares service-scoped.
    """
    found = []
    for model, line_field in service_scoped_models():
        rows = (
            model._base_manager.filter(**{f"{line_field}__isnull": True}).order_by("member__member_number")
            .values_list("member__member_number")
            .annotate(lines=Count("member__product_lines", distinct=True), n=Count("pk", distinct=True))
        )
        found.extend((model._meta.label, number, lines, n) for number, lines, n in rows)
    return found
