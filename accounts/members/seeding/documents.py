"""Demo identity documents: numbers valid for their kind and country, their review, and a stand-in scan.

PRC resident ID check digit, Korean RRN, French NIR, German IdNr, Aadhaar, US SSN, Hong Kong and
Singapore identity cards, UK driving licences, ICAO passports and company registrations all pass
``accounts.members.validators`` for their kind and country.
"""

from __future__ import annotations

import datetime
import random
import struct
import zlib

from stdnum import verhoeff
from stdnum.cn import ric, uscc
from stdnum.fr import nir
from stdnum.gb import utr
from stdnum.iso7064 import mod_11_10
from stdnum.kr import rrn
from stdnum.sg import uen

from accounts.members.choices import DocumentKind
from accounts.members.seeding.draws import SeedClock, draw_digits, draw_letters
from accounts.members.seeding.people import Person
from accounts.models import IdentityDocument, RelatedPerson, age_on

# PRC counties whose codes are valid for every birth year from 1940 on (stdnum checks the county).
CN_REGIONS = ("110101", "110105", "110108", "120101", "310101", "310104")


def cn_resident_id(rng: random.Random, born: datetime.date, female: bool) -> str:
    """GB 11643: region, birth date, order code (odd for men), check digit."""
    order = rng.randrange(0, 999, 2) + (0 if female else 1)
    body = f"{rng.choice(CN_REGIONS)}{born:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")  # the function ignores the last character


def kr_resident_number(rng: random.Random, born: datetime.date, female: bool) -> str:
    century = 1 if born.year < 2000 else 3
    body = f"{born:%y%m%d}{century + int(female)}{rng.randint(0, 96):02d}{draw_digits(rng, 3)}"
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
        body = rng.choice("23456789") + draw_digits(rng, 10)
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
    digits = draw_digits(rng, 6)
    total = 9 * 36 + 8 * (ord(letter) - 55) + sum(w * int(d) for w, d in zip(range(7, 1, -1), digits, strict=True))
    check = (11 - total % 11) % 11
    return f"{letter}{digits}({'A' if check == 10 else check})"


def sg_nric(rng: random.Random, born: datetime.date) -> str:
    prefix = "T" if born.year >= 2000 else "S"
    digits = f"{born:%y}" + draw_digits(rng, 5) if prefix == "T" else draw_digits(rng, 7)
    total = sum(w * int(d) for w, d in zip((2, 7, 6, 5, 4, 3, 2), digits, strict=True)) + (4 if prefix == "T" else 0)
    return f"{prefix}{digits}{'JZIHGFEDCBA'[total % 11]}"


def gb_driving_licence(rng: random.Random, family: str, given: str, born: datetime.date, female: bool) -> str:
    surname = "".join(ch for ch in family.upper() if ch.isalpha())[:5].ljust(5, "9")
    month = born.month + (50 if female else 0)
    return (
        f"{surname}{str(born.year)[2]}{month:02d}{born:%d}{str(born.year)[3]}"
        f"{given[0].upper()}9{draw_letters(rng, 1, '0123456789')}{draw_letters(rng, 2)}"
    )


def passport_number(rng: random.Random, country: str) -> str:
    """ICAO 9303 document numbers: up to nine letters and digits, in each country's usual pattern."""
    if country == "CN":
        return "E" + draw_digits(rng, 8)
    if country == "HK":
        return rng.choice("HK") + draw_digits(rng, 8)
    if country == "SG":
        return "K" + draw_digits(rng, 7) + draw_letters(rng, 1)
    if country in ("US", "GB"):
        return rng.choice("123456789") + draw_digits(rng, 8)
    if country == "DE":
        return "C" + draw_letters(rng, 8, "CFGHJKLMNPRTVWXYZ0123456789")
    if country == "KR":
        return "M" + draw_digits(rng, 8)
    if country == "JP":
        return draw_letters(rng, 2) + draw_digits(rng, 7)
    if country == "FR":
        return draw_digits(rng, 2) + draw_letters(rng, 2) + draw_digits(rng, 5)
    return draw_letters(rng, 1) + draw_digits(rng, 7)


def company_registration(rng: random.Random, country: str) -> str:
    if country == "CN":  # unified social credit code: "91" + region + organisation code + check
        body = "91" + rng.choice(CN_REGIONS) + draw_letters(rng, 9, uscc._alphabet)
        return body + uscc.calc_check_digit(body)
    if country == "GB":  # validated as a UK unique taxpayer reference: check digit first
        body = draw_digits(rng, 9)
        return utr.calc_check_digit(body) + body
    if country == "SG":  # UEN of a local company: year of incorporation + serial + check letter
        body = f"{rng.randint(1995, 2022)}{draw_digits(rng, 5)}"
        return body + uen.calc_local_company_check_digit(body)
    if country == "US":  # employer identification number
        return f"{rng.choice(['20', '26', '27', '45', '46', '47', '81', '82', '83', '84'])}-{draw_digits(rng, 7)}"
    return draw_digits(rng, 8)  # Hong Kong company registry number


def scan_png(rng: random.Random, width: int = 48, height: int = 32) -> bytes:
    """A tiny grey PNG standing in for a scan: real image bytes, no real document."""
    shade = rng.randint(120, 220)
    rows = b"".join(b"\x00" + bytes((shade + (x ^ y) % 32) % 256 for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def draw_identity_document(
    clock: SeedClock, rng: random.Random, person: Person, *, related: RelatedPerson | None, passport: bool
) -> IdentityDocument:
    """The usual identity document of the person's country (a passport if ``passport``)."""
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
    elif code == "GB" and age_on(person.born, clock.today) >= 17:
        kind = DocumentKind.DRIVER_LICENCE
        number = gb_driving_licence(rng, person.family, person.given, person.born, person.female)
    else:
        number = passport_number(rng, code)
    expires = None
    if kind in (DocumentKind.PASSPORT, DocumentKind.NATIONAL_ID, DocumentKind.DRIVER_LICENCE):
        expires = clock.today + datetime.timedelta(days=rng.randint(-200, 3600))
    return IdentityDocument(
        related_person=related,
        kind=kind,
        issuing_country=code,
        number=number,
        expires_on=expires,
        uploaded_at=clock.before(rng, 1500, 1),
    )


def review_document(clock: SeedClock, rng: random.Random, document: IdentityDocument, status: str) -> None:
    """Record a review of ``document`` by the demo reviewer, hours after its upload."""
    document.review_status = status
    document.reviewed_by_id = clock.reviewer_id
    document.reviewed_at = min(document.uploaded_at + datetime.timedelta(hours=rng.randint(1, 72)), clock.anchor)
