"""The demo staff logins, one per role, and their shared password (``manage.py seed_demo``).

Kept apart from ``accounts.demo`` (which creates them) so that ``accounts.members.seeding.reference`` can
name the demo compliance officer as the reviewer of demo documents without importing the demo
steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from accounts.staff import roles

# Printed by `make run`; refused when DEMO_DATA_ALLOWED is off (production).
DEMO_PASSWORD = "privacy-demo-2026!"  # noqa: S105 - public demo credential, dev only


@dataclass(frozen=True)
class DemoLogin:
    email: str
    full_name: str
    role: str | None
    superuser: bool = False


DEMO_LOGINS = (
    DemoLogin("compliance@demo.example", "Demo Compliance Officer", roles.COMPLIANCE_OFFICER),
    DemoLogin("agent@demo.example", "Demo Service Agent", roles.CUSTOMER_SERVICE_AGENT),
    DemoLogin("agent2@demo.example", "Second Demo Agent", roles.CUSTOMER_SERVICE_AGENT),
    DemoLogin("supervisor@demo.example", "Demo Supervisor", roles.SUPERVISOR),
    DemoLogin("auditor@demo.example", "Demo Auditor", roles.AUDITOR),
    DemoLogin("admin@demo.example", "Demo Administrator", None, superuser=True),
)
