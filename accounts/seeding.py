"""Demo members for ``manage.py seed_demo --members N --seed S`` (issue 3, requirement 12).

What it makes, per member: an individual (about nine in ten, from ten countries) or an institution
(an ``InstitutionProfile`` and one to three related persons, each with an identity document),
identity documents whose numbers pass ``accounts.validators`` for their kind and country (PRC
resident ID check digit, Korean RRN, French NIR, German IdNr, Aadhaar, US SSN, ICAO passports, …),
real-name and advanced verifications, payment instruments (Luhn-valid cards, IBANs), device records
and 20 to 34 transaction records. Four in every hundred members are minors: aged exactly 13 or
exactly 16 on the day of seeding (PP-03, PP-37, PP-38 have something to act on).

Three properties the callers rely on:

- **Deterministic.** Member ``i`` is numbered ``M{i:09d}`` and every value is drawn from its own
  ``random.Random(f"…:{seed}:{i}")`` (never the global generator, no Faker state), so the same seed
  gives the same members, whatever the chunk size and whichever members already exist. Dates are
  drawn relative to ``today`` (minors must be 13 *today*), so a rerun on another day shifts them.
- **Idempotent.** Each chunk first reads which member numbers exist and creates only the others,
  with all their rows, in one transaction: a rerun (or a run after a crash) adds only what is missing.
- **Set-based.** ``bulk_create`` per model and chunk: the number of queries depends on the number of
  chunks, not of rows. ``bulk_create`` runs ``pre_save`` (blind indexes) and ``get_prep_value``
  (encryption) but not ``Model.save()``, so the values ``save()`` would derive (``birth_year``,
  ``last_four``) are set here. No audit-history rows are written for demo rows.
"""

from __future__ import annotations

import datetime
import random
import struct
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from stdnum import iban, luhn, verhoeff
from stdnum.cn import ric, uscc
from stdnum.fr import nir
from stdnum.gb import utr
from stdnum.iso7064 import mod_11_10
from stdnum.kr import rrn
from stdnum.sg import uen

from accounts import roles
from accounts.choices import (
    AssetType,
    DocumentKind,
    InstrumentKind,
    MemberKind,
    MemberStatus,
    RelatedPersonRole,
    ReviewStatus,
    VerificationLevel,
    VerificationMethod,
    VerificationOutcome,
)
from accounts.demo_logins import DEMO_LOGINS
from accounts.models import (
    DeviceRecord,
    IdentityDocument,
    InstitutionProfile,
    Member,
    PaymentInstrument,
    ProductLine,
    RelatedPerson,
    StaffUser,
    TransactionRecord,
    Verification,
    age_on,
)
from accounts.storage import document_upload_to, protected_storage

DEFAULT_SEED = 2026
DEFAULT_CHUNK_SIZE = 500
# Rows per INSERT: bounded so that a chunk's statements stay well under PostgreSQL's parameter
# limit; SQLite lowers it further to its own limit (999 parameters per statement).
INSERT_BATCH_SIZE = 2000
# Encrypted demo files are written only for the members with these indexes: a handful of files
# whatever N is (files are slow to write and each one is a real encrypted blob on disk).
FILE_MEMBER_INDEXES = frozenset(range(1, 7))
# Per hundred members: these indexes are minors, aged exactly 13 or exactly 16 on the seeding day.
MINOR_AGES = {13: 13, 63: 13, 16: 16, 66: 16}
INSTITUTION_SHARE = 0.10
MIN_TRANSACTIONS, MAX_TRANSACTIONS = 20, 34

PRODUCT_LINES = (
    ("spot", "Spot trading"),
    ("margin", "Margin trading"),
    ("futures", "Futures"),
    ("otc", "OTC desk"),
    ("earn", "Earn"),
)


def member_number(index: int) -> str:
    """The member number of the ``index``-th demo member (1-based)."""
    return f"M{index:09d}"


# --- Countries and their people --------------------------------------------------------------------
@dataclass(frozen=True)
class Country:
    code: str
    weight: int
    # (romanised family, local family), (romanised given, local given); local "" when the
    # local-language name is the legal name.
    families: tuple[tuple[str, str], ...]
    givens: tuple[tuple[str, str], ...]
    family_first: bool
    cities: tuple[tuple[str, float, float], ...]
    phone: Callable[[random.Random], str]
    banks: tuple[str, ...]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _letters(rng: random.Random, n: int, alphabet: str = "ABCDEFGHIJKLMNPQRSTUVWXYZ") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


COUNTRIES: dict[str, Country] = {
    c.code: c
    for c in (
        Country(
            "CN", 30,
            (("Wang", "王"), ("Li", "李"), ("Zhang", "张"), ("Liu", "刘"), ("Chen", "陈"), ("Yang", "杨"),
             ("Huang", "黄"), ("Zhao", "赵"), ("Wu", "吴"), ("Zhou", "周"), ("Xu", "徐"), ("Sun", "孙")),
            (("Wei", "伟"), ("Fang", "芳"), ("Na", "娜"), ("Min", "敏"), ("Jing", "静"), ("Qiang", "强"),
             ("Lei", "磊"), ("Jun", "军"), ("Yang", "洋"), ("Yan", "艳"), ("Jie", "杰"), ("Tao", "涛"),
             ("Ming", "明"), ("Xiuying", "秀英"), ("Hui", "慧"), ("Haoran", "浩然"), ("Zihan", "梓涵")),
            True,
            (("Beijing", 39.9042, 116.4074), ("Shanghai", 31.2304, 121.4737), ("Shenzhen", 22.5431, 114.0579),
             ("Hangzhou", 30.2741, 120.1551), ("Chengdu", 30.5728, 104.0668)),
            lambda r: f"+86 1{r.choice('3578')}{_digits(r, 1)} {_digits(r, 4)} {_digits(r, 4)}",
            ("Industrial and Commercial Bank of China", "China Construction Bank", "Bank of China",
             "China Merchants Bank"),
        ),
        Country(
            "HK", 10,
            (("Chan", "陳"), ("Wong", "黃"), ("Lee", "李"), ("Cheung", "張"), ("Lau", "劉"), ("Ng", "吳"),
             ("Leung", "梁"), ("Lam", "林"), ("Ho", "何"), ("Tse", "謝")),
            (("Ka Ming", "家明"), ("Wing Yan", "詠欣"), ("Chi Keung", "志強"), ("Mei Ling", "美玲"),
             ("Siu Fung", "少峰"), ("Hoi Yan", "凱欣"), ("Tsz Hin", "梓軒"), ("Wai Man", "偉文")),
            True,
            (("Central", 22.2819, 114.1582), ("Kowloon", 22.3193, 114.1694), ("Sha Tin", 22.3771, 114.1974)),
            lambda r: f"+852 {r.choice('569')}{_digits(r, 3)} {_digits(r, 4)}",
            ("HSBC Hong Kong", "Hang Seng Bank", "Bank of China (Hong Kong)"),
        ),
        Country(
            "SG", 8,
            (("Tan", "陈"), ("Lim", "林"), ("Lee", "李"), ("Ng", "黄"), ("Ong", "王"), ("Goh", "吴")),
            (("Wei Ling", "慧玲"), ("Jun Jie", "俊杰"), ("Hui Min", "慧敏"), ("Zhi Hao", "志豪"),
             ("Xin Yi", "欣怡"), ("Kai Wen", "凯文")),
            True,
            (("Singapore", 1.3521, 103.8198), ("Jurong", 1.3329, 103.7436)),
            lambda r: f"+65 {r.choice('89')}{_digits(r, 3)} {_digits(r, 4)}",
            ("DBS Bank", "OCBC Bank", "United Overseas Bank"),
        ),
        Country(
            "US", 10,
            (("Smith", ""), ("Johnson", ""), ("Williams", ""), ("Brown", ""), ("Garcia", ""), ("Miller", ""),
             ("Davis", ""), ("Rodriguez", ""), ("Martinez", ""), ("Nguyen", "")),
            (("James", ""), ("Mary", ""), ("Michael", ""), ("Jennifer", ""), ("David", ""), ("Linda", ""),
             ("Daniel", ""), ("Emily", ""), ("Jacob", ""), ("Olivia", "")),
            False,
            (("New York", 40.7128, -74.0060), ("San Francisco", 37.7749, -122.4194), ("Austin", 30.2672, -97.7431)),
            # 555-0100 to 555-0199 are reserved for fiction.
            lambda r: f"+1 {r.choice(['212', '415', '512'])} 555 01{_digits(r, 2)}",
            ("Chase", "Bank of America", "Wells Fargo"),
        ),
        Country(
            "GB", 8,
            (("Smith", ""), ("Jones", ""), ("Taylor", ""), ("Brown", ""), ("Wilson", ""), ("Evans", ""),
             ("Thomas", ""), ("Roberts", "")),
            (("Oliver", ""), ("Amelia", ""), ("Harry", ""), ("Isla", ""), ("George", ""), ("Ava", ""),
             ("Jack", ""), ("Emily", "")),
            False,
            (("London", 51.5072, -0.1276), ("Manchester", 53.4808, -2.2426), ("Edinburgh", 55.9533, -3.1883)),
            # 07700 900000 to 900999 are reserved for drama.
            lambda r: f"+44 7700 900{_digits(r, 3)}",
            ("Barclays", "HSBC UK", "Lloyds Bank", "NatWest"),
        ),
        Country(
            "DE", 7,
            (("Müller", ""), ("Schmidt", ""), ("Schneider", ""), ("Fischer", ""), ("Weber", ""), ("Meyer", ""),
             ("Wagner", ""), ("Becker", "")),
            (("Lukas", ""), ("Anna", ""), ("Felix", ""), ("Lea", ""), ("Jonas", ""), ("Marie", ""),
             ("Paul", ""), ("Sophie", "")),
            False,
            (("Berlin", 52.5200, 13.4050), ("Frankfurt am Main", 50.1109, 8.6821), ("München", 48.1351, 11.5820)),
            lambda r: f"+49 15{_digits(r, 1)} {_digits(r, 7)}",
            ("Deutsche Bank", "Commerzbank", "Sparkasse"),
        ),
        Country(
            "KR", 7,
            (("Kim", "김"), ("Lee", "이"), ("Park", "박"), ("Choi", "최"), ("Jung", "정"), ("Kang", "강"),
             ("Cho", "조"), ("Yoon", "윤")),
            (("Min-jun", "민준"), ("Seo-yeon", "서연"), ("Ji-ho", "지호"), ("Ha-eun", "하은"), ("Do-yun", "도윤"),
             ("Ji-woo", "지우"), ("Seo-jun", "서준"), ("Su-ah", "수아")),
            True,
            (("Seoul", 37.5665, 126.9780), ("Busan", 35.1796, 129.0756), ("Incheon", 37.4563, 126.7052)),
            lambda r: f"+82 10 {_digits(r, 4)} {_digits(r, 4)}",
            ("KB Kookmin Bank", "Shinhan Bank", "Woori Bank"),
        ),
        Country(
            "JP", 7,
            (("Sato", "佐藤"), ("Suzuki", "鈴木"), ("Takahashi", "高橋"), ("Tanaka", "田中"),
             ("Watanabe", "渡辺"), ("Ito", "伊藤"), ("Yamamoto", "山本"), ("Nakamura", "中村")),
            (("Haruto", "陽翔"), ("Yui", "結衣"), ("Sota", "蒼太"), ("Hina", "陽菜"), ("Ren", "蓮"), ("Aoi", "葵"),
             ("Yuki", "由紀"), ("Kenji", "健二")),
            True,
            (("Tokyo", 35.6762, 139.6503), ("Osaka", 34.6937, 135.5023), ("Yokohama", 35.4437, 139.6380)),
            lambda r: f"+81 {r.choice(['70', '80', '90'])} {_digits(r, 4)} {_digits(r, 4)}",
            ("MUFG Bank", "Sumitomo Mitsui Banking", "Mizuho Bank"),
        ),
        Country(
            "FR", 6,
            (("Martin", ""), ("Bernard", ""), ("Dubois", ""), ("Thomas", ""), ("Robert", ""), ("Richard", ""),
             ("Petit", ""), ("Durand", "")),
            (("Gabriel", ""), ("Louise", ""), ("Raphaël", ""), ("Jade", ""), ("Léo", ""), ("Ambre", ""),
             ("Louis", ""), ("Chloé", "")),
            False,
            (("Paris", 48.8566, 2.3522), ("Lyon", 45.7640, 4.8357), ("Marseille", 43.2965, 5.3698)),
            lambda r: f"+33 {r.choice('67')} {_digits(r, 2)} {_digits(r, 2)} {_digits(r, 2)} {_digits(r, 2)}",
            ("BNP Paribas", "Société Générale", "Crédit Agricole"),
        ),
        Country(
            "IN", 7,
            (("Sharma", ""), ("Patel", ""), ("Iyer", ""), ("Reddy", ""), ("Singh", ""), ("Gupta", ""),
             ("Nair", ""), ("Mehta", "")),
            (("Aarav", ""), ("Priya", ""), ("Rohan", ""), ("Ananya", ""), ("Vikram", ""), ("Sneha", ""),
             ("Arjun", ""), ("Kavya", "")),
            False,
            (("Mumbai", 19.0760, 72.8777), ("Bengaluru", 12.9716, 77.5946), ("New Delhi", 28.6139, 77.2090)),
            lambda r: f"+91 {r.choice('6789')}{_digits(r, 4)} {_digits(r, 5)}",
            ("State Bank of India", "HDFC Bank", "ICICI Bank"),
        ),
    )
}
_COUNTRY_CODES = tuple(COUNTRIES)
_COUNTRY_WEIGHTS = tuple(c.weight for c in COUNTRIES.values())
# Where demo institutions are incorporated.
INSTITUTION_COUNTRIES = ("CN", "HK", "SG", "GB", "US")

# RFC 2606 / 6761 names: demo e-mail addresses can never reach anyone.
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "demo.example")
# PRC counties whose codes are valid for every birth year from 1940 on (stdnum checks the county).
CN_REGIONS = ("110101", "110105", "110108", "120101", "310101", "310104")
# Documentation address ranges (RFC 5737, RFC 3849): demo IPs belong to nobody.
IPV4_PREFIXES = ("192.0.2", "198.51.100", "203.0.113")
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/138.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/18.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/138.0 Mobile Safari/537.36",
    "ExchangeApp/7.4.2 (Android 14; SM-S928B)",
    "ExchangeApp/7.4.2 (iOS 18.5; iPhone16,2)",
)
MOBILE_BROWSERS = frozenset(b for b in BROWSERS if "Android" in b or "iPhone" in b or "iOS" in b)
NICK_WORDS = ("swift", "lucky", "quiet", "brave", "golden", "silver", "happy", "clever", "north", "jade")
NICK_ANIMALS = ("falcon", "tiger", "panda", "otter", "crane", "dragon", "koala", "lynx", "heron", "whale")
ASSETS = (
    (AssetType.BTC, 35, Decimal("65000")),
    (AssetType.ETH, 25, Decimal("3200")),
    (AssetType.USDT, 15, Decimal("1")),
    (AssetType.SOL, 10, Decimal("150")),
    (AssetType.XRP, 10, Decimal("0.6")),
    (AssetType.OTHER, 5, Decimal("2.5")),
)
# Asset of an order, drawn by percentile (weights sum to 100).
_ASSET_BY_PERCENT = tuple((asset, price) for asset, weight, price in ASSETS for _ in range(weight))
_TEN_DP = Decimal("0.0000000001")
COMPANY_WORDS = ("Harbour", "Jade", "Summit", "Lotus", "Pacific", "Granite", "Aurora", "Meridian", "Kestrel", "Orchid")
COMPANY_TRADES = ("Capital", "Digital Assets", "Holdings", "Trading", "Investments", "Technology", "Ventures")
COMPANY_SUFFIX = {"CN": "Co., Ltd.", "HK": "Limited", "SG": "Pte. Ltd.", "GB": "Ltd", "US": "LLC"}
CN_COMPANY_LOCAL = {"Harbour": "港湾", "Jade": "翡翠", "Summit": "峰汇", "Lotus": "莲花", "Pacific": "太平洋",
                    "Granite": "磐石", "Aurora": "极光", "Meridian": "子午", "Kestrel": "隼翼", "Orchid": "兰花"}
FUNDING_SOURCES = (
    "Shareholders' equity and retained earnings",
    "Proprietary trading capital contributed by the parent company",
    "Client assets held under a fund management licence",
    "Venture capital investment (Series A)",
    "Operating revenue from an e-commerce business",
)
COMPANY_STRUCTURES = (
    "Private company limited by shares; {n} shareholders; one director is also the authorised representative.",
    "Wholly owned subsidiary of a holding company; {n} natural persons are ultimate beneficial owners.",
    "Limited partnership; the general partner is a company; {n} persons named as controllers.",
)


# --- Document numbers, valid for their kind and country ---------------------------------------------
def _years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year - years, day=28)


def birth_date_for_age(rng: random.Random, today: datetime.date, age: int) -> datetime.date:
    """A date of birth on which someone is exactly ``age`` on ``today`` (PP-03 counting)."""
    latest = _years_before(today, age)
    earliest = _years_before(today, age + 1) + datetime.timedelta(days=1)
    born = earliest + datetime.timedelta(days=rng.randint(0, (latest - earliest).days))
    assert age_on(born, today) == age  # an internal invariant, cheap
    return born


def cn_resident_id(rng: random.Random, born: datetime.date, female: bool) -> str:
    """GB 11643: region, birth date, order code (odd for men), check digit."""
    order = rng.randrange(0, 999, 2) + (0 if female else 1)
    body = f"{rng.choice(CN_REGIONS)}{born:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")  # the function ignores the last character


def kr_resident_number(rng: random.Random, born: datetime.date, female: bool) -> str:
    century = 1 if born.year < 2000 else 3
    body = f"{born:%y%m%d}{century + int(female)}{rng.randint(0, 96):02d}{_digits(rng, 3)}"
    return f"{body[:6]}-{body[6:]}{rrn.calc_check_digit(body)}"


def fr_nir(rng: random.Random, born: datetime.date, female: bool) -> str:
    body = f"{2 if female else 1}{born:%y%m}{rng.randint(1, 95):02d}{rng.randint(1, 990):03d}{rng.randint(1, 999):03d}"
    return body + nir.calc_check_digits(body)


def de_idnr(rng: random.Random) -> str:
    """Eleven digits, no leading zero, exactly one digit twice in the first ten, ISO 7064 check."""
    while True:
        digits = rng.sample("0123456789", 9)
        digits.insert(rng.randint(0, 9), rng.choice(digits))
        if digits[0] != "0":
            body = "".join(digits)
            return body + mod_11_10.calc_check_digit(body)


def in_aadhaar(rng: random.Random) -> str:
    while True:
        body = rng.choice("23456789") + _digits(rng, 10)
        number = body + verhoeff.calc_check_digit(body)
        if number != number[::-1]:
            return f"{number[:4]} {number[4:8]} {number[8:]}"


def us_ssn(rng: random.Random) -> str:
    """Area 001-899 except 666 (9xx is never issued), group and serial never all zeros."""
    while True:
        area = rng.randint(1, 898)
        area += area >= 666
        number = f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
        if number not in ("078-05-1120", "457-55-5462", "219-09-9999"):  # numbers stdnum refuses
            return number


def hk_identity_card(rng: random.Random) -> str:
    letter = rng.choice("ACDEGHKMPRVYZ")
    digits = _digits(rng, 6)
    total = 9 * 36 + 8 * (ord(letter) - 55) + sum(w * int(d) for w, d in zip(range(7, 1, -1), digits, strict=True))
    check = (11 - total % 11) % 11
    return f"{letter}{digits}({'A' if check == 10 else check})"


def sg_nric(rng: random.Random, born: datetime.date) -> str:
    prefix = "T" if born.year >= 2000 else "S"
    digits = f"{born:%y}" + _digits(rng, 5) if prefix == "T" else _digits(rng, 7)
    total = sum(w * int(d) for w, d in zip((2, 7, 6, 5, 4, 3, 2), digits, strict=True)) + (4 if prefix == "T" else 0)
    return f"{prefix}{digits}{'JZIHGFEDCBA'[total % 11]}"


def gb_driving_licence(rng: random.Random, family: str, given: str, born: datetime.date, female: bool) -> str:
    surname = "".join(ch for ch in family.upper() if ch.isalpha())[:5].ljust(5, "9")
    month = born.month + (50 if female else 0)
    return (
        f"{surname}{str(born.year)[2]}{month:02d}{born:%d}{str(born.year)[3]}"
        f"{given[0].upper()}9{_letters(rng, 1, '0123456789')}{_letters(rng, 2)}"
    )


def passport_number(rng: random.Random, country: str) -> str:
    """ICAO 9303 document numbers: up to nine letters and digits, in each country's usual pattern."""
    if country == "CN":
        return "E" + _digits(rng, 8)
    if country == "HK":
        return rng.choice("HK") + _digits(rng, 8)
    if country == "SG":
        return "K" + _digits(rng, 7) + _letters(rng, 1)
    if country in ("US", "GB"):
        return rng.choice("123456789") + _digits(rng, 8)
    if country == "DE":
        return "C" + _letters(rng, 8, "CFGHJKLMNPRTVWXYZ0123456789")
    if country == "KR":
        return "M" + _digits(rng, 8)
    if country == "JP":
        return _letters(rng, 2) + _digits(rng, 7)
    if country == "FR":
        return _digits(rng, 2) + _letters(rng, 2) + _digits(rng, 5)
    return _letters(rng, 1) + _digits(rng, 7)


def company_registration(rng: random.Random, country: str) -> str:
    if country == "CN":  # unified social credit code: "91" + region + organisation code + check
        body = "91" + rng.choice(CN_REGIONS) + _letters(rng, 9, uscc._alphabet)
        return body + uscc.calc_check_digit(body)
    if country == "GB":  # validated as a UK unique taxpayer reference: check digit first
        body = _digits(rng, 9)
        return utr.calc_check_digit(body) + body
    if country == "SG":  # UEN of a local company: year of incorporation + serial + check letter
        body = f"{rng.randint(1995, 2022)}{_digits(rng, 5)}"
        return body + uen.calc_local_company_check_digit(body)
    if country == "US":  # employer identification number
        return f"{rng.choice(['20', '26', '27', '45', '46', '47', '81', '82', '83', '84'])}-{_digits(rng, 7)}"
    return _digits(rng, 8)  # Hong Kong company registry number


def bank_card(rng: random.Random, country: str) -> str:
    prefix = rng.choice(["622202", "621700", "625998"]) if country == "CN" else rng.choice(["4", "51", "53", "55"])
    body = prefix + _digits(rng, 15 - len(prefix))
    number = body + luhn.calc_check_digit(body)
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def bank_account(rng: random.Random, country: str) -> str:
    if country in ("DE", "GB", "FR"):
        bban = {
            "DE": lambda: _digits(rng, 18),
            "GB": lambda: rng.choice(["BARC", "HBUK", "LOYD", "NWBK"]) + _digits(rng, 14),
            "FR": lambda: _digits(rng, 10) + _digits(rng, 11) + _digits(rng, 2),
        }[country]()
        if country == "FR":  # the French BBAN ends in a RIB key of its own
            bank, branch, account = int(bban[:5]), int(bban[5:10]), int(bban[10:21])
            bban = bban[:21] + f"{97 - (89 * bank + 15 * branch + 3 * account) % 97:02d}"
        number = f"{country}{iban.calc_check_digits(country + '00' + bban)}{bban}"
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return _digits(rng, {"CN": 19, "US": 12, "IN": 14}.get(country, 12))


def _imei(rng: random.Random) -> str:
    body = rng.choice(["35", "86", "01"]) + _digits(rng, 12)
    return body + luhn.calc_check_digit(body)


def _png(rng: random.Random, width: int = 48, height: int = 32) -> bytes:
    """A tiny grey PNG standing in for a scan: real image bytes, no real document."""
    shade = rng.randint(120, 220)
    rows = b"".join(b"\x00" + bytes((shade + (x ^ y) % 32) % 256 for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# --- One member's rows ---------------------------------------------------------------------------
@dataclass
class MemberPlan:
    """One member and its rows, unsaved. Children get ``member_id`` once the member is inserted
    (assigning the unsaved member object instead costs more than generating the row)."""

    member: Member
    product_lines: list[str]
    profile: InstitutionProfile | None = None
    related: list[RelatedPerson] = field(default_factory=list)
    documents: list[IdentityDocument] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)
    instruments: list[PaymentInstrument] = field(default_factory=list)
    devices: list[DeviceRecord] = field(default_factory=list)
    transactions: list[TransactionRecord] = field(default_factory=list)
    # documents that get an encrypted demo file (only for a handful of members)
    with_file: list[IdentityDocument] = field(default_factory=list)


@dataclass
class _Person:
    country: Country
    female: bool
    born: datetime.date
    legal_name: str
    local_name: str
    family: str
    given: str
    email: str
    phone: str


class MemberGenerator:
    """Draws member ``index`` from ``random.Random(f"demo-member:{seed}:{index}")`` alone."""

    def __init__(self, *, seed: int, today: datetime.date, reviewer_id: int | None = None):
        self.seed = seed
        self.today = today
        self.reviewer_id = reviewer_id
        # Timestamps are drawn back from the start of ``today`` (UTC): fixed for a given day.
        self.anchor = datetime.datetime(today.year, today.month, today.day, tzinfo=datetime.UTC)

    # helpers
    def _before(self, rng: random.Random, max_days: float, min_days: float = 0) -> datetime.datetime:
        return self.anchor - datetime.timedelta(seconds=rng.randint(int(min_days * 86400), int(max_days * 86400)))

    def _person(self, rng: random.Random, index: int, country: Country, age: int, tag: str) -> _Person:
        family, family_local = rng.choice(country.families)
        given, given_local = rng.choice(country.givens)
        female = rng.random() < 0.5
        born = birth_date_for_age(rng, self.today, age)
        if country.family_first:
            legal = f"{family} {given}"
            local = f"{family_local}{given_local}" if family_local else ""
        else:
            legal, local = f"{given} {family}", ""
        ascii_name = "".join(ch for ch in f"{given}.{family}".lower() if ch.isascii() and (ch.isalnum() or ch == "."))
        email = f"{ascii_name.replace(' ', '')}.{tag}{index}@{rng.choice(EMAIL_DOMAINS)}"
        return _Person(country, female, born, legal, local, family, given, email, country.phone(rng))

    def _identity_document(
        self, rng: random.Random, person: _Person, *, related: RelatedPerson | None, passport: bool
    ) -> IdentityDocument:
        code = person.country.code
        kind = DocumentKind.PASSPORT
        if passport:
            number = passport_number(rng, code)
        elif code == "CN":
            kind, number = DocumentKind.NATIONAL_ID, cn_resident_id(rng, person.born, person.female)
        elif code == "HK":
            kind, number = DocumentKind.NATIONAL_ID, hk_identity_card(rng)
        elif code == "SG":
            kind, number = DocumentKind.NATIONAL_ID, sg_nric(rng, person.born)
        elif code == "KR":
            kind, number = DocumentKind.NATIONAL_ID, kr_resident_number(rng, person.born, person.female)
        elif code == "FR":
            kind, number = DocumentKind.NATIONAL_ID, fr_nir(rng, person.born, person.female)
        elif code == "DE":
            kind, number = DocumentKind.NATIONAL_ID, de_idnr(rng)
        elif code == "IN":
            kind, number = DocumentKind.NATIONAL_ID, in_aadhaar(rng)
        elif code == "US":
            kind, number = DocumentKind.SOCIAL_SECURITY, us_ssn(rng)
        elif code == "GB" and age_on(person.born, self.today) >= 17:
            kind = DocumentKind.DRIVER_LICENCE
            number = gb_driving_licence(rng, person.family, person.given, person.born, person.female)
        else:
            number = passport_number(rng, code)
        expires = None
        if kind in (DocumentKind.PASSPORT, DocumentKind.NATIONAL_ID, DocumentKind.DRIVER_LICENCE):
            expires = self.today + datetime.timedelta(days=rng.randint(-200, 3600))
        return IdentityDocument(
            related_person=related,
            kind=kind,
            issuing_country=code,
            number=number,
            expires_on=expires,
            uploaded_at=self._before(rng, 1500, 1),
        )

    def plan(self, index: int, *, lean: bool = False) -> MemberPlan:
        """Member ``index`` with all its rows; ``lean`` stops after the member and one document."""
        rng = random.Random(f"demo-member:{self.seed}:{index}")  # noqa: S311 - demo data, not secrets
        minor_age = MINOR_AGES.get(index % 100)
        institution = minor_age is None and rng.random() < INSTITUTION_SHARE
        if institution:
            return self._institution(rng, index, lean)
        return self._individual(rng, index, minor_age, lean)

    def _member_status(self, rng: random.Random, member: Member) -> None:
        roll = rng.random()
        if roll < 0.03:
            member.status = MemberStatus.SUSPENDED
        elif roll < 0.06:
            member.status = MemberStatus.CANCELLATION_REQUESTED
        elif roll < 0.10:
            member.status, member.cancelled_at = MemberStatus.CANCELLED, self._before(rng, 120, 1)
        elif roll < 0.12:
            member.status, member.cancelled_at = MemberStatus.CLOSED, self._before(rng, 400, 121)

    def _individual(self, rng: random.Random, index: int, minor_age: int | None, lean: bool) -> MemberPlan:
        country = COUNTRIES[rng.choices(_COUNTRY_CODES, _COUNTRY_WEIGHTS)[0]]
        age = minor_age if minor_age is not None else rng.randint(18, 75)
        person = self._person(rng, index, country, age, "m")
        registered = self._before(rng, 360 if minor_age else 2200, 20)
        member = Member(
            member_number=member_number(index),
            kind=MemberKind.INDIVIDUAL,
            registered_at=registered,
            nationality=country.code,
            legal_name=person.legal_name,
            local_name=person.local_name,
            date_of_birth=person.born,
            birth_year=person.born.year,  # Member.save() derives it; bulk_create does not call save()
            email=person.email,
            phone=person.phone,
        )
        self._member_status(rng, member)
        primary = self._identity_document(
            rng, person, related=None, passport=country.code in ("CN", "JP") and rng.random() < 0.2
        )
        plan = MemberPlan(member=member, product_lines=self._product_lines(rng, False), documents=[primary])
        if lean:
            return plan
        if rng.random() < 0.3 and primary.kind != DocumentKind.PASSPORT:
            plan.documents.append(self._identity_document(rng, person, related=None, passport=True))

        roll = rng.random()
        level = (
            VerificationLevel.NONE if roll < 0.18
            else VerificationLevel.ADVANCED if roll > 0.85 and minor_age is None
            else VerificationLevel.REAL_NAME
        )
        self._verify(rng, plan, level, primary)
        if index in FILE_MEMBER_INDEXES:
            plan.with_file.append(primary)
        if level == VerificationLevel.ADVANCED:
            face = IdentityDocument(
                kind=DocumentKind.FACE_CAPTURE, issuing_country="",
                uploaded_at=self._before(rng, 300, 1),
            )
            self._review(rng, face, ReviewStatus.ACCEPTED)
            plan.documents.append(face)
            if index in FILE_MEMBER_INDEXES:
                plan.with_file.append(face)

        for _ in range(rng.randint(1, 2)):
            self._instrument(rng, plan, country, InstrumentKind.BANK_CARD if rng.random() < 0.6 else None)
        self._devices(rng, plan, country)
        self._transactions(rng, plan, heavy=minor_age is None and rng.random() < 0.05)
        return plan

    def _institution(self, rng: random.Random, index: int, lean: bool) -> MemberPlan:
        code = rng.choice(INSTITUTION_COUNTRIES)
        country = COUNTRIES[code]
        word, trade = rng.choice(COMPANY_WORDS), rng.choice(COMPANY_TRADES)
        city = rng.choice(country.cities)
        member = Member(
            member_number=member_number(index),
            kind=MemberKind.INSTITUTION,
            registered_at=self._before(rng, 2200, 20),
            email=f"compliance.{index}@{word.lower()}-{trade.split()[0].lower()}.example",
            phone=country.phone(rng),
        )
        self._member_status(rng, member)
        reg_number = company_registration(rng, code)
        incorporated = self.today - datetime.timedelta(days=rng.randint(400, 9000))
        registration = IdentityDocument(
            kind=DocumentKind.COMPANY_REGISTRATION, issuing_country=code, number=reg_number,
            uploaded_at=self._before(rng, 1500, 1),
        )
        plan = MemberPlan(member=member, product_lines=self._product_lines(rng, True), documents=[registration])
        if lean:
            return plan
        people = rng.randint(1, 3)
        plan.profile = InstitutionProfile(
            legal_name=f"{word} {trade} {COMPANY_SUFFIX[code]}",
            local_name=f"{CN_COMPANY_LOCAL[word]}数字科技有限公司" if code == "CN" else "",
            registration_number=reg_number,
            registration_info=f"Incorporated in {code} on {incorporated:%Y-%m-%d}; registered office in {city[0]}.",
            business_phone=country.phone(rng),
            main_place_of_business=f"{rng.randint(1, 300)} {rng.choice(COMPANY_WORDS)} Road, {city[0]}",
            company_structure=rng.choice(COMPANY_STRUCTURES).format(n=people),
            funding_sources=rng.choice(FUNDING_SOURCES),
        )
        for kind in (DocumentKind.CORPORATE_DOCUMENT, DocumentKind.BOARD_RESOLUTION):
            plan.documents.append(
                IdentityDocument(kind=kind, issuing_country=code, uploaded_at=self._before(rng, 1500, 1))
            )
        shares = [Decimal(rng.randint(25, 60))] if people > 1 else []
        if people == 3:
            shares.append(Decimal(rng.randint(10, 100 - int(shares[0]) - 1)))
        for number in range(people):
            person_country = COUNTRIES[code if rng.random() < 0.7 else rng.choice(_COUNTRY_CODES)]
            person = self._person(rng, index, person_country, rng.randint(28, 70), f"rp{number}x")
            role = (
                RelatedPersonRole.AUTHORISED_REPRESENTATIVE if number == 0
                else RelatedPersonRole.BENEFICIAL_OWNER
            )
            related = RelatedPerson(
                role=role,
                ownership_share=shares[number - 1] if number else None,
                legal_name=person.legal_name,
                local_name=person.local_name,
                nationality=person_country.code,
                date_of_birth=person.born,
                email=person.email,
                phone=person.phone,
            )
            plan.related.append(related)
            document = self._identity_document(rng, person, related=related, passport=rng.random() < 0.4)
            self._review(rng, document, ReviewStatus.ACCEPTED)
            plan.documents.append(document)

        level = VerificationLevel.NONE if rng.random() < 0.15 else VerificationLevel.REAL_NAME
        self._verify(rng, plan, level, registration, method=VerificationMethod.MANUAL_REVIEW)
        for document in plan.documents:
            if document.review_status == ReviewStatus.PENDING and level != VerificationLevel.NONE:
                self._review(rng, document, ReviewStatus.ACCEPTED)
        self._instrument(rng, plan, country, None)
        self._devices(rng, plan, country)
        self._transactions(rng, plan, heavy=rng.random() < 0.3)
        return plan

    def _product_lines(self, rng: random.Random, institution: bool) -> list[str]:
        chosen = ["spot"] if rng.random() < 0.92 else []
        for code, chance in (("margin", 0.3), ("futures", 0.25), ("otc", 0.6 if institution else 0.05), ("earn", 0.3)):
            if rng.random() < chance:
                chosen.append(code)
        return chosen or ["earn"]

    def _review(self, rng: random.Random, document: IdentityDocument, status: str) -> None:
        document.review_status = status
        document.reviewed_by_id = self.reviewer_id
        document.reviewed_at = min(document.uploaded_at + datetime.timedelta(hours=rng.randint(1, 72)), self.anchor)

    def _verify(
        self, rng: random.Random, plan: MemberPlan, level: str, document: IdentityDocument, method: str | None = None
    ) -> None:
        member = plan.member
        method = method or (
            VerificationMethod.PASSPORT_CHECK if document.kind == DocumentKind.PASSPORT
            else VerificationMethod.ID_NUMBER_CHECK
        )
        when = member.registered_at + datetime.timedelta(hours=rng.randint(1, 240))

        def record(lvl: str, how: str, outcome: str, at: datetime.datetime) -> None:
            plan.verifications.append(
                Verification(
                    level=lvl, method=how, outcome=outcome, verified_at=at,
                    reviewer_id=self.reviewer_id if outcome != VerificationOutcome.PENDING else None,
                )
            )

        member.verification_level = level
        if level == VerificationLevel.NONE:
            if rng.random() < 0.4:
                record(VerificationLevel.REAL_NAME, method, VerificationOutcome.PENDING, when)
            elif rng.random() < 0.3:
                record(VerificationLevel.REAL_NAME, method, VerificationOutcome.FAILED, when)
                self._review(rng, document, ReviewStatus.REJECTED)
            return
        if rng.random() < 0.1:  # a first attempt that failed (blurred scan, name mismatch)
            record(VerificationLevel.REAL_NAME, method, VerificationOutcome.FAILED, when)
            when += datetime.timedelta(days=rng.randint(1, 5))
        record(VerificationLevel.REAL_NAME, method, VerificationOutcome.PASSED, when)
        self._review(rng, document, ReviewStatus.ACCEPTED)
        if level == VerificationLevel.ADVANCED:
            record(
                VerificationLevel.ADVANCED, VerificationMethod.FACE_RECOGNITION, VerificationOutcome.PASSED,
                when + datetime.timedelta(days=rng.randint(10, 300)),
            )

    def _instrument(self, rng: random.Random, plan: MemberPlan, country: Country, kind: str | None) -> None:
        kind = kind or InstrumentKind.BANK_ACCOUNT
        number = bank_card(rng, country.code) if kind == InstrumentKind.BANK_CARD else bank_account(rng, country.code)
        digits = "".join(ch for ch in number if ch.isdigit())
        plan.instruments.append(
            PaymentInstrument(
                kind=kind,
                bank_name=rng.choice(country.banks),
                number=number,
                last_four=digits[-4:],  # PaymentInstrument.save() derives it; bulk_create does not call save()
                added_at=max(plan.member.registered_at, self._before(rng, 1800, 2)),
            )
        )

    def _devices(self, rng: random.Random, plan: MemberPlan, country: Country) -> None:
        city, lat, lon = rng.choice(country.cities)
        for _ in range(rng.randint(1, 3)):
            browser = rng.choice(BROWSERS)
            mobile = browser in MOBILE_BROWSERS
            if rng.random() < 0.15:
                ip = f"2001:db8:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
            else:
                ip = f"{rng.choice(IPV4_PREFIXES)}.{rng.randint(1, 254)}"
            plan.devices.append(
                DeviceRecord(
                    ip_address=ip,
                    device_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    imei=_imei(rng) if mobile else "",
                    mac_address=(
                        ":".join(f"{b:02x}" for b in [0x02, *(rng.getrandbits(8) for _ in range(5))]) if mobile else ""
                    ),
                    browser=browser,
                    region=city,
                    location=f"{lat + rng.uniform(-0.05, 0.05):.5f},{lon + rng.uniform(-0.05, 0.05):.5f}",
                    seen_at=self._before(rng, 90),
                )
            )

    def _transactions(self, rng: random.Random, plan: MemberPlan, *, heavy: bool) -> None:
        """20 to 34 orders; "heavy" traders pass the advanced-verification volume in the last 30 days."""
        member = plan.member
        index = int(member.member_number[1:])
        span = max(int((self.anchor - member.registered_at).total_seconds()), 1)
        # The hot loop of seeding (two thirds of all rows): plain rng.random() arithmetic, no randint.
        draw = rng.random
        anchor, second, cents, ten_dp = self.anchor, datetime.timedelta(seconds=1), Decimal("0.01"), _TEN_DP
        nicknames = [
            f"{NICK_WORDS[int(draw() * 10)]}{NICK_ANIMALS[int(draw() * 10)]}{1 + int(draw() * 999)}" for _ in range(4)
        ]
        for number in range(rng.randint(MIN_TRANSACTIONS, MAX_TRANSACTIONS)):
            asset, price = _ASSET_BY_PERCENT[int(draw() * 100)]
            if heavy and number < 8:  # recent and large
                when = anchor - second * int(draw() * 25 * 86400)
                amount = (Decimal(800_000 + int(draw() * 1_700_000)) * cents)
            else:
                when = anchor - second * int(draw() * span)
                amount = (Decimal(2_000 + int(draw() * 298_000)) * cents)
            unit_price = price * (80 + int(draw() * 41)) * cents
            plan.transactions.append(
                TransactionRecord(
                    order_number=f"T{index:09d}{number:03d}",
                    order_time=when,
                    # a member trades with a few counterparties again and again
                    counterparty_nickname=nicknames[int(draw() * 4)] if draw() < 0.8 else "",
                    asset_type=asset,
                    quantity=(amount / unit_price).quantize(ten_dp),
                    amount=amount,
                )
            )


# --- Writing -------------------------------------------------------------------------------------
def product_lines_ensure() -> dict[str, ProductLine]:
    """The five product lines, created when missing (names edited in the admin are kept)."""
    existing = {line.code: line for line in ProductLine.objects.filter(code__in=[c for c, _ in PRODUCT_LINES])}
    missing = [ProductLine(code=code, name=name) for code, name in PRODUCT_LINES if code not in existing]
    if missing:
        ProductLine.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {line.code: line for line in ProductLine.objects.filter(code__in=[c for c, _ in PRODUCT_LINES])}
    return existing


def demo_reviewer_id() -> int | None:
    """The demo compliance officer reviews the demo documents (None before staff users exist)."""
    email = next(login.email for login in DEMO_LOGINS if login.role == roles.COMPLIANCE_OFFICER)
    return StaffUser.objects.filter(email=email).values_list("pk", flat=True).first()


def _insert(plans: list[MemberPlan], lines: dict[str, ProductLine]) -> Counter:
    """Insert a chunk's rows: one ``bulk_create`` per model (batched), parents before children."""

    def rows(attr: str) -> list:
        return [row for plan in plans for row in getattr(plan, attr)]

    batch = INSERT_BATCH_SIZE
    Member.objects.bulk_create([plan.member for plan in plans], batch_size=batch)  # sets each pk
    for plan in plans:
        member_id = plan.member.pk
        if plan.profile is not None:
            plan.profile.member_id = member_id
        for attr in ("related", "documents", "verifications", "instruments", "devices", "transactions"):
            for row in getattr(plan, attr):
                row.member_id = member_id
    through = Member.product_lines.through
    through.objects.bulk_create(
        [through(member_id=p.member.pk, productline_id=lines[code].pk) for p in plans for code in p.product_lines],
        batch_size=batch,
    )
    profiles = [plan.profile for plan in plans if plan.profile]
    InstitutionProfile.objects.bulk_create(profiles, batch_size=batch)
    # Related persons first: their documents need their primary keys (returned by bulk_create).
    RelatedPerson.objects.bulk_create(rows("related"), batch_size=batch)
    counts = Counter(
        {
            "members created": len(plans),
            "institutions": len(profiles),
            "minors": sum(1 for p in plans if int(p.member.member_number[1:]) % 100 in MINOR_AGES),
            "related persons": len(rows("related")),
        }
    )
    for label, model, attr in (
        ("identity documents", IdentityDocument, "documents"),
        ("verifications", Verification, "verifications"),
        ("payment instruments", PaymentInstrument, "instruments"),
        ("device records", DeviceRecord, "devices"),
        ("transactions", TransactionRecord, "transactions"),
    ):
        objects = rows(attr)
        model.objects.bulk_create(objects, batch_size=batch)
        counts[label] = len(objects)
    return counts


def _seed_chunk(generator: MemberGenerator, indexes: range, lines: dict[str, ProductLine], files: bool) -> Counter:
    numbers = [member_number(i) for i in indexes]
    existing = set(Member.objects.filter(member_number__in=numbers).values_list("member_number", flat=True))
    todo = [i for i in indexes if member_number(i) not in existing]
    counts = Counter({"members skipped": len(existing)})
    if not todo:
        return counts
    plans = [generator.plan(i) for i in todo]
    written: list[str] = []
    try:
        with transaction.atomic():
            # All of a chunk or none of it: a rerun after a crash finds no half-made member.
            if files:
                for plan in plans:
                    for document in plan.with_file:
                        rng = random.Random(f"demo-file:{generator.seed}:{plan.member.member_number}")  # noqa: S311
                        name = protected_storage.save(document_upload_to(document, "scan.png"), ContentFile(_png(rng)))
                        written.append(name)
                        document.file = name
            counts.update(_insert(plans, lines))
            counts["encrypted files"] = len(written)
    except BaseException:
        for name in written:  # the rows are gone with the transaction: so are their files
            protected_storage.delete(name)
        raise
    return counts


def demo_members_seed(
    *,
    count: int,
    first: int = 1,
    seed: int = DEFAULT_SEED,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    today: datetime.date | None = None,
    files: bool = True,
    bar=None,
) -> dict[str, int]:
    """Create demo members ``M{first:09d}`` … ``M{count:09d}`` that do not exist yet, with their rows.

    Returns counts of what was created (and how many members already existed). ``bar`` is a
    progress bar (``accounts.progress.progress``) advanced by members processed. ``first`` lets
    several processes share one range (the seeding benchmark); the values do not depend on it.
    """
    if count < 0 or chunk_size < 1 or first < 1:
        raise ValueError("count must be >= 0, first >= 1 and chunk_size >= 1")
    today = today or timezone.localdate()
    lines = product_lines_ensure()
    generator = MemberGenerator(seed=seed, today=today, reviewer_id=demo_reviewer_id())
    totals: Counter = Counter()
    if bar is not None:
        bar.reset(total=max(count - first + 1, 0))
    for start in range(first, count + 1, chunk_size):
        indexes = range(start, min(start + chunk_size, count + 1))
        totals.update(_seed_chunk(generator, indexes, lines, files))
        if bar is not None:
            bar.update(len(indexes))
    keys = ("members created", "members skipped", "institutions", "related persons", "minors", "identity documents",
            "encrypted files", "verifications", "payment instruments", "device records", "transactions")
    return {key: totals.get(key, 0) for key in keys}


def iter_plans(*, start: int, stop: int, seed: int, today: datetime.date, lean: bool = False) -> Iterable[MemberPlan]:
    """Plans for indexes ``start`` to ``stop - 1`` (for the benchmarks' bulk loaders)."""
    generator = MemberGenerator(seed=seed, today=today)
    for index in range(start, stop):
        yield generator.plan(index, lean=lean)
