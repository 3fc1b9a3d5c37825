"""What demo members point to but do not own: the product lines and the staff user who reviews their documents."""

from __future__ import annotations

from accounts.models import ProductLine, StaffUser
from accounts.staff import roles
from accounts.staff.demo_logins import DEMO_LOGINS

PRODUCT_LINES = (
    ("spot", "Spot trading"),
    ("margin", "Margin trading"),
    ("futures", "Futures"),
    ("otc", "OTC desk"),
    ("earn", "Earn"),
)


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
