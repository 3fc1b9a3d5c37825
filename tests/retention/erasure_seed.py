"""Members with data in every place erasure must reach, for the engine's tests.

Rows are saved through the ORM (not bulk) so simple-history writes their history rows, and each
member gets a second save so its history holds more than one version.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.members.choices import MemberKind, MemberStatus
from accounts.members.volumes import volumes_add
from accounts.models import (
    DeviceRecord,
    IdentityDocument,
    InstitutionProfile,
    Member,
    PaymentInstrument,
    ProductLine,
    RelatedPerson,
    SensitiveAccessLog,
    StaffUser,
    TransactionRecord,
    Verification,
)
from tests.factories import valid_cn_id

_serial = itertools.count(1)


@dataclass
class Seeded:
    member: Member
    number: str
    tag: str
    files: list[str] = field(default_factory=list)  # storage names of uploaded files
    ciphertexts: list[str] = field(default_factory=list)  # raw encrypted column values
    rows: dict[str, int] = field(default_factory=dict)


def consents_model(name: str):
    return apps.get_model("consents", name)


def _product_line() -> ProductLine:
    line, _ = ProductLine.objects.get_or_create(code="spot", defaults={"name": "Spot trading"})
    return line


def seed_member(
    *,
    tag: str | None = None,
    staff=None,
    institution: bool = False,
    cancelled_days_ago: int | None = 60,
    born: datetime.date = datetime.date(1990, 5, 17),
    files: bool = True,
    transactions: int = 3,
    devices: int = 2,
    number: str | None = None,
) -> Seeded:
    """One member with related rows in every app, each free-text value carrying ``tag``."""
    n = next(_serial)
    tag = tag or f"seed{n:05d}"
    now = timezone.now()
    member = Member(
        member_number=number or f"M{700000000 + n:09d}",
        kind=MemberKind.INSTITUTION if institution else MemberKind.INDIVIDUAL,
        status=MemberStatus.CANCELLED if cancelled_days_ago is not None else MemberStatus.ACTIVE,
        cancelled_at=now - datetime.timedelta(days=cancelled_days_ago) if cancelled_days_ago is not None else None,
        nationality="CN",
        legal_name=f"Name {tag}",
        local_name=f"Local {tag}",
        date_of_birth=born,
        email=f"{tag}@mail.example",
        phone=f"+86 138 {n:04d} {n:04d}",
    )
    member.save()
    line = _product_line()
    member.product_lines.add(line)
    member.legal_name = f"Name {tag} second"  # a second history version, with a reason typed by staff
    member._change_reason = f"Corrected name {tag}"
    member.save()
    seeded = Seeded(member=member, number=member.member_number, tag=tag)

    if institution:
        InstitutionProfile.objects.create(
            member=member, legal_name=f"Company {tag}", local_name=f"Firm {tag}",
            registration_number=f"REG{tag}", registration_info=f"Registry {tag}", business_phone=f"+852 {n:08d}",
            main_place_of_business=f"Harbour Road {tag}", company_structure=f"Structure {tag}",
            funding_sources=f"Funding {tag}",
        )
        person = RelatedPerson.objects.create(
            member=member, role="beneficial_owner", ownership_share=Decimal("40"), legal_name=f"Owner {tag}",
            local_name=f"Owner local {tag}", nationality="SG", date_of_birth=datetime.date(1970, 1, 2),
            email=f"owner.{tag}@corp.example", phone=f"+65 {n:08d}",
        )
    else:
        person = None

    for kind_index in range(2 if files else 0):
        doc = IdentityDocument(
            member=member, related_person=person if kind_index == 1 else None, kind="national_id",
            issuing_country="CN", number=valid_cn_id(n * 10 + kind_index), expires_on=datetime.date(2031, 1, 1),
        )
        doc.file.save(f"{tag}.jpg", ContentFile(f"image of {tag}".encode()), save=False)
        doc.save()
        seeded.files.append(doc.file.name)
    Verification.objects.create(member=member, level="real_name", method="id_number_check", outcome="passed")
    PaymentInstrument.objects.create(member=member, kind="bank_card", bank_name=f"Bank {tag}",
                                     number=f"6222 0200 {n:04d} {n:04d}")
    for i in range(devices):
        DeviceRecord.objects.create(member=member, product_line=line, ip_address="203.0.113.7",
                                    device_id=f"dev-{tag}-{i}",
                                    imei=f"35{n:06d}{i:05d}"[:20], mac_address="00:11:22:33:44:55",
                                    browser=f"Browser {tag}", region=f"Region {tag}", location=f"31.2,{tag}")
    orders = []
    for i in range(transactions):
        orders.append(TransactionRecord.objects.create(
            member=member, product_line=line, order_number=f"ORD-{tag}-{n}-{i}",
            order_time=now - datetime.timedelta(days=400 + i),
            counterparty_nickname=f"peer-{tag}-{i}", asset_type="BTC", quantity=Decimal("0.5"),
            amount=Decimal("1000.00") + i,
        ))
    volumes_add(orders)  # the plain daily volumes, as every write path keeps them (PP-10)

    # Consents (through the app registry, as retention code must)
    purpose, version = consent_refs()
    guardian = consents_model("Guardian").objects.create(
        member=member, name=f"Guardian {tag}", relation="mother", contact=f"guardian.{tag}@mail.example",
        verification_evidence=f"Evidence {tag}",
    )
    event = consents_model("ConsentEvent")(
        member=member, purpose=purpose, action="grant", policy_version=version, channel="web",
        evidence=f"Clicked {tag}", actor_kind="guardian", guardian=guardian, source=f"Source {tag}",
    )
    event.save()
    consents_model("ConsentState").objects.create(
        member=member, purpose=purpose, granted=True, by_guardian=True, policy_version=version, last_event=event,
        changed_at=now,
    )
    consents_model("ReconsentNotice").objects.create(policy_version=version, member=member)
    consents_model("SmsReply").objects.create(message_id=f"sms-{tag}-{n}", phone_bidx=f"bidx{tag}", member=member,
                                              keyword=f"TD {tag}"[:40], outcome=_first_choice("SmsReply", "outcome"))
    consents_model("SiteEvent").objects.create(key=f"site-{tag}-{n}", kind=_first_choice("SiteEvent", "kind"),
                                               member=member, fingerprint="0" * 64,
                                               outcome=_first_choice("SiteEvent", "outcome"))
    # PP-17: processing on a legal ground named for the member (its reference carries the tag).
    ground, _ = consents_model("LegalGround").objects.get_or_create(
        code="consent-other-law", defaults={"use": "consent_exception", "section": "I(V)3", "position": 11,
                                            "wording": "Other circumstances stipulated by laws and regulations"})
    recorder = staff or StaffUser.objects.get_or_create(email="seed.recorder@test.example")[0]
    record = consents_model("ProcessingOnGround")(
        member=member, purpose=purpose, ground=ground, reference=f"Court order {tag}", starts_on=now.date(),
        recorded_by=recorder,
    )
    record.save()

    if staff is not None:
        LogEntry.objects.create(
            user_id=staff.pk, content_type_id=ContentType.objects.get_for_model(Member).pk, object_id=str(member.pk),
            object_repr=member.member_number, action_flag=CHANGE, change_message=f'[{{"changed": "{tag}"}}]',
        )
        SensitiveAccessLog.objects.create(staff_user=staff, action="reveal", member_number=member.member_number,
                                          model_label="accounts.Member", field_name="email", reason="check")
    seeded.ciphertexts = raw_ciphertexts(member)
    return seeded


def consent_refs():
    """A purpose and a policy version: the migration's, or fresh ones after a transactional test's flush."""
    version = consents_model("PolicyVersion").objects.order_by("pk").first()
    if version is None:
        version = consents_model("PolicyVersion").objects.create(
            version="test-1", text="Policy", change_kinds=["service_model"], published_at=timezone.now())
    purpose = consents_model("Purpose").objects.order_by("pk").first()
    if purpose is None:
        purpose = consents_model("Purpose").objects.create(code="account", name="Account", kind="basic",
                                                          introduced_in=version)
    return purpose, version


def _first_choice(model_name: str, field_name: str) -> str:
    return consents_model(model_name)._meta.get_field(field_name).choices[0][0]


def raw_ciphertexts(member: Member) -> list[str]:
    """Every encrypted column value (raw token) stored for ``member`` in live and history tables."""
    from django.db import connection

    found = []
    for model in apps.get_models():
        encrypted = [f for f in model._meta.concrete_fields if getattr(f, "encrypted", False)]
        if not encrypted:
            continue
        names = {f.name for f in model._meta.concrete_fields}
        if model is Member or model.__name__ == "HistoricalMember":
            where, param = "id", member.pk
        elif "member" in names:
            where, param = model._meta.get_field("member").column, member.pk
        else:
            continue
        columns = ", ".join(connection.ops.quote_name(f.column) for f in encrypted)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns} FROM {connection.ops.quote_name(model._meta.db_table)} "  # noqa: S608
                f"WHERE {connection.ops.quote_name(where)} = %s",
                [param],
            )
            for row in cursor.fetchall():
                found.extend(value for value in row if value)
    return found


def member_is_untouched(seeded: Seeded) -> bool:
    member = Member.objects.filter(pk=seeded.member.pk).first()
    return bool(
        member
        and member.member_number == seeded.number
        and member.email == f"{seeded.tag}@mail.example"
        and member.legal_name.startswith(f"Name {seeded.tag}")
        and member.date_of_birth is not None
        and DeviceRecord.objects.filter(member=member).exists()
        and consents_model("ConsentEvent").objects.filter(member=member).exists()
    )
