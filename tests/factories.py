"""factory_boy factories shared by the whole suite."""

import factory

from accounts.models import StaffUser

TEST_PASSWORD = "correct-horse-battery-staple"


class StaffUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffUser
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"staff{n}@test.example")
    full_name = factory.Faker("name")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


# --- Members -----------------------------------------------------------------------------------
import datetime  # noqa: E402
from decimal import Decimal  # noqa: E402

from django.utils import timezone  # noqa: E402
from stdnum.cn import ric  # noqa: E402

from accounts import models as m  # noqa: E402
from accounts.members.choices import (  # noqa: E402
    AssetType,
    DocumentKind,
    InstrumentKind,
    MemberKind,
    RelatedPersonRole,
    VerificationLevel,
    VerificationMethod,
    VerificationOutcome,
)
from accounts.members.volumes import volumes_add  # noqa: E402


def valid_cn_id(seq: int, born: datetime.date = datetime.date(1990, 5, 17)) -> str:
    """A checksum-valid PRC resident ID number (region 110101, Beijing Dongcheng)."""
    body = f"110101{born:%Y%m%d}{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum ignores the last character passed


def sole_product_line(member):
    """The member's product line when it uses exactly one (what every write path fills, PP-19), else None."""
    lines = list(member.product_lines.all()[:2]) if member.pk else []
    return lines[0] if len(lines) == 1 else None


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Member
        skip_postgeneration_save = True

    member_number = factory.Sequence(lambda n: f"M{n + 100000000:09d}")
    kind = MemberKind.INDIVIDUAL
    nationality = "CN"
    legal_name = factory.Faker("name")
    local_name = factory.Faker("name", locale="zh_CN")
    date_of_birth = datetime.date(1990, 5, 17)
    email = factory.Sequence(lambda n: f"member{n}@mail.example")
    phone = factory.Sequence(lambda n: f"+86 138 {n:04d} {n % 10000:04d}")
    registered_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class, *args, product_lines=(), **kwargs):
        """``product_lines=[line or code, ...]``: the lines the member uses (a code is created if missing).

        Not a post-generation declaration: factory_boy logs those with the object, i.e. its member number.
        """
        member = super()._create(model_class, *args, **kwargs)
        if product_lines:
            member.product_lines.set([
                line if isinstance(line, m.ProductLine)
                else m.ProductLine.objects.get_or_create(code=line, defaults={"name": line.title()})[0]
                for line in product_lines
            ])
        return member


class InstitutionFactory(MemberFactory):
    kind = MemberKind.INSTITUTION
    nationality = ""
    legal_name = ""
    local_name = ""
    date_of_birth = None
    profile = factory.RelatedFactory(
        "tests.factories.InstitutionProfileFactory", factory_related_name="member"
    )


class InstitutionProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.InstitutionProfile

    member = factory.SubFactory(MemberFactory, kind=MemberKind.INSTITUTION)
    legal_name = factory.Faker("company")
    registration_number = factory.Sequence(lambda n: f"REG{n:08d}")
    business_phone = "+852 2100 0000"
    main_place_of_business = "1 Harbour Road, Hong Kong"


class RelatedPersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.RelatedPerson

    member = factory.SubFactory(InstitutionFactory)
    role = RelatedPersonRole.BENEFICIAL_OWNER
    ownership_share = Decimal("25.00")
    legal_name = factory.Faker("name")
    nationality = "SG"
    date_of_birth = datetime.date(1975, 1, 2)
    email = factory.Sequence(lambda n: f"owner{n}@corp.example")


class IdentityDocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.IdentityDocument

    member = factory.SubFactory(MemberFactory)
    kind = DocumentKind.NATIONAL_ID
    issuing_country = "CN"
    number = factory.Sequence(valid_cn_id)
    expires_on = datetime.date(2030, 1, 1)


class VerificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Verification

    member = factory.SubFactory(MemberFactory)
    level = VerificationLevel.REAL_NAME
    method = VerificationMethod.ID_NUMBER_CHECK
    outcome = VerificationOutcome.PASSED


class PaymentInstrumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.PaymentInstrument

    member = factory.SubFactory(MemberFactory)
    kind = InstrumentKind.BANK_CARD
    bank_name = "Demo Bank"
    number = factory.Sequence(lambda n: f"6222 0200 {n:04d} {n % 10000:04d}")


class DeviceRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.DeviceRecord

    member = factory.SubFactory(MemberFactory)
    ip_address = "203.0.113.7"
    device_id = factory.Sequence(lambda n: f"dev-{n:06d}")
    browser = "Firefox 140"
    region = "Shanghai"
    location = "31.2304,121.4737"
    product_line = factory.LazyAttribute(lambda o: sole_product_line(o.member))


class TransactionRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.TransactionRecord

    member = factory.SubFactory(MemberFactory)
    order_number = factory.Sequence(lambda n: f"ORD{n:012d}")
    order_time = factory.LazyFunction(timezone.now)
    counterparty_nickname = factory.Sequence(lambda n: f"trader{n}")
    asset_type = AssetType.BTC
    quantity = Decimal("0.5")
    amount = Decimal("1000.00")
    product_line = factory.LazyAttribute(lambda o: sole_product_line(o.member))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        record = super()._create(model_class, *args, **kwargs)
        volumes_add([record])  # as every write path does (PP-10 daily volumes)
        return record


# --- Consents: processing on a legal ground (PP-17) ----------------------------------------------
from consents.models import LegalGround, ProcessingOnGround, Purpose  # noqa: E402


class ProductLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.ProductLine
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"line-{n}")
    name = factory.Sequence(lambda n: f"Product line {n}")


class ProcessingOnGroundFactory(factory.django.DjangoModelFactory):
    """A record as the service writes it (not yet approved unless ``approved_by`` is given)."""

    class Meta:
        model = ProcessingOnGround

    purpose = factory.LazyFunction(lambda: Purpose.objects.get(code="marketing-sms"))
    member = factory.SubFactory(MemberFactory)
    ground = factory.LazyFunction(lambda: LegalGround.objects.get(code="consent-other-law"))
    reference = "Anti-Money Laundering Act, art. 33"
    starts_on = datetime.date(2024, 1, 1)
    recorded_by = factory.SubFactory(StaffUserFactory)
    approved_at = factory.LazyAttribute(lambda o: timezone.now() if o.approved_by else None)
