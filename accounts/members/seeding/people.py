"""A demo person: country, sex, a birth date for an exact age, legal and local names, e-mail and phone."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

from accounts.members.seeding.countries import Country
from accounts.members.seeding.draws import SeedClock
from accounts.models import age_on

# RFC 2606 / 6761 names: demo e-mail addresses can never reach anyone.
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "demo.example")


@dataclass
class Person:
    country: Country
    female: bool
    born: datetime.date
    legal_name: str
    local_name: str
    family: str
    given: str
    email: str
    phone: str


def years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year - years, day=28)


def birth_date_for_age(rng: random.Random, today: datetime.date, age: int) -> datetime.date:
    """A date of birth on which someone is exactly ``age`` on ``today`` (PP-03 counting)."""
    latest = years_before(today, age)
    earliest = years_before(today, age + 1) + datetime.timedelta(days=1)
    born = earliest + datetime.timedelta(days=rng.randint(0, (latest - earliest).days))
    assert age_on(born, today) == age  # an internal invariant, cheap
    return born


def draw_person(clock: SeedClock, rng: random.Random, index: int, country: Country, age: int, tag: str) -> Person:
    """A person of ``country`` aged exactly ``age`` on the seeding day; ``tag`` keeps e-mails apart."""
    family, family_local = rng.choice(country.families)
    given, given_local = rng.choice(country.givens)
    female = rng.random() < 0.5
    born = birth_date_for_age(rng, clock.today, age)
    if country.family_first:
        legal = f"{family} {given}"
        local = f"{family_local}{given_local}" if family_local else ""
    else:
        legal, local = f"{given} {family}", ""
    ascii_name = "".join(ch for ch in f"{given}.{family}".lower() if ch.isascii() and (ch.isalnum() or ch == "."))
    email = f"{ascii_name.replace(' ', '')}.{tag}{index}@{rng.choice(EMAIL_DOMAINS)}"
    return Person(country, female, born, legal, local, family, given, email, country.phone(rng))
