"""Demo payment instruments: Luhn-valid bank cards and bank accounts (IBANs where the country has them)."""

from __future__ import annotations

import random

from stdnum import iban, luhn

from accounts.members.choices import InstrumentKind
from accounts.members.seeding.countries import Country
from accounts.members.seeding.draws import SeedClock, draw_digits
from accounts.members.seeding.plan import MemberPlan
from accounts.models import PaymentInstrument


def bank_card(rng: random.Random, country: str) -> str:
    """A Luhn-valid 16-digit card number (UnionPay prefixes in China)."""
    prefix = rng.choice(["622202", "621700", "625998"]) if country == "CN" else rng.choice(["4", "51", "53", "55"])
    body = prefix + draw_digits(rng, 15 - len(prefix))
    number = body + luhn.calc_check_digit(body)
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def bank_account(rng: random.Random, country: str) -> str:
    """An IBAN for Germany, the UK and France; a plain account number elsewhere."""
    if country in ("DE", "GB", "FR"):
        bban = {
            "DE": lambda: draw_digits(rng, 18),
            "GB": lambda: rng.choice(["BARC", "HBUK", "LOYD", "NWBK"]) + draw_digits(rng, 14),
            "FR": lambda: draw_digits(rng, 10) + draw_digits(rng, 11) + draw_digits(rng, 2),
        }[country]()
        if country == "FR":  # the French BBAN ends in a RIB key of its own
            bank, branch, account = int(bban[:5]), int(bban[5:10]), int(bban[10:21])
            bban = bban[:21] + f"{97 - (89 * bank + 15 * branch + 3 * account) % 97:02d}"
        number = f"{country}{iban.calc_check_digits(country + '00' + bban)}{bban}"
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return draw_digits(rng, {"CN": 19, "US": 12, "IN": 14}.get(country, 12))


def draw_instrument(clock: SeedClock, rng: random.Random, plan: MemberPlan, country: Country, kind: str | None) -> None:
    """A bank card or, when ``kind`` is None, a bank account, with a bank of the country."""
    kind = kind or InstrumentKind.BANK_ACCOUNT
    number = bank_card(rng, country.code) if kind == InstrumentKind.BANK_CARD else bank_account(rng, country.code)
    digits = "".join(ch for ch in number if ch.isdigit())
    plan.instruments.append(
        PaymentInstrument(
            kind=kind,
            bank_name=rng.choice(country.banks),
            number=number,
            last_four=digits[-4:],  # PaymentInstrument.save() derives it; bulk_create does not call save()
            added_at=max(plan.member.registered_at, clock.before(rng, 1800, 2)),
        )
    )
