"""Demo device records: documentation-range IP addresses, browsers, device ids, IMEI and MAC for phones."""

from __future__ import annotations

import random
import uuid

from stdnum import luhn

from accounts.members.seeding.countries import Country
from accounts.members.seeding.draws import SeedClock, draw_digits
from accounts.members.seeding.plan import MemberPlan
from accounts.models import DeviceRecord

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


def draw_imei(rng: random.Random) -> str:
    """A Luhn-valid IMEI."""
    body = rng.choice(["35", "86", "01"]) + draw_digits(rng, 12)
    return body + luhn.calc_check_digit(body)


def draw_devices(clock: SeedClock, rng: random.Random, plan: MemberPlan, country: Country) -> None:
    """One to three devices seen in the last 90 days, near one of the country's cities."""
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
                imei=draw_imei(rng) if mobile else "",
                mac_address=(
                    ":".join(f"{b:02x}" for b in [0x02, *(rng.getrandbits(8) for _ in range(5))]) if mobile else ""
                ),
                browser=browser,
                region=city,
                location=f"{lat + rng.uniform(-0.05, 0.05):.5f},{lon + rng.uniform(-0.05, 0.05):.5f}",
                seen_at=clock.before(rng, 90),
            )
        )
