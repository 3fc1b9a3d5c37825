"""Demo transaction records: 20 to 34 orders a member, some members trading heavily in the last 30 days."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from accounts.members.choices import AssetType
from accounts.members.seeding.draws import SeedClock
from accounts.members.seeding.plan import MemberPlan
from accounts.models import TransactionRecord

MIN_TRANSACTIONS, MAX_TRANSACTIONS = 20, 34
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


def draw_transactions(clock: SeedClock, rng: random.Random, plan: MemberPlan, *, heavy: bool) -> None:
    """20 to 34 orders; "heavy" traders pass the advanced-verification volume in the last 30 days."""
    member = plan.member
    index = int(member.member_number[1:])
    span = max(int((clock.anchor - member.registered_at).total_seconds()), 1)
    # The hot loop of seeding (two thirds of all rows): plain rng.random() arithmetic, no randint.
    draw = rng.random
    anchor, second, cents, ten_dp = clock.anchor, datetime.timedelta(seconds=1), Decimal("0.01"), _TEN_DP
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
