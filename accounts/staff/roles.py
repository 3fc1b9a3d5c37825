"""Roles are groups; this module is the one declaration of what each role may do (PP-25).

Least privilege: a role gets only what is listed here. ``view`` may be granted app-wide with
``"*"`` (auditors read everything, masked); every other action is granted model by model, so a
new model is invisible to a role until someone decides otherwise here.

``sync_roles`` is idempotent. Data migrations call it (``accounts/migrations/0002``); a later
migration that adds models or permissions calls it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMPLIANCE_OFFICER = "compliance officer"
CUSTOMER_SERVICE_AGENT = "customer service agent"
SUPERVISOR = "supervisor"
AUDITOR = "auditor"

ALL_ROLES = (COMPLIANCE_OFFICER, CUSTOMER_SERVICE_AGENT, SUPERVISOR, AUDITOR)

#: Apps whose every model the reading roles may view (masked where sensitive).
PROJECT_APPS = ("accounts", "consents", "requests_desk", "retention")


@dataclass(frozen=True)
class Grant:
    """``actions`` on ``model`` of ``app_label`` (``model="*"`` only with ``("view",)``)."""

    app_label: str
    model: str
    actions: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.model == "*" and set(self.actions) - {"view"}:
            raise ValueError("App-wide grants are for viewing only (least privilege).")


@dataclass(frozen=True)
class Role:
    name: str
    grants: tuple[Grant, ...] = ()
    #: Extra permissions by "app_label.codename" (custom model permissions such as reveal).
    extra: tuple[str, ...] = ()
    inherits: tuple[str, ...] = field(default=())


_READ_PROJECT = tuple(Grant(app, "*", ("view",)) for app in PROJECT_APPS)
_READ_AUDIT = (
    Grant("admin", "logentry", ("view",)),
    Grant("django_celery_beat", "*", ("view",)),
)
# Compliance sees and changes the beat schedule in the admin (design decision 6).
_EDIT_SCHEDULE = (
    Grant("django_celery_beat", "periodictask", ("view", "change")),
    Grant("django_celery_beat", "crontabschedule", ("view", "add", "change")),
    Grant("django_celery_beat", "intervalschedule", ("view", "add", "change")),
)

# Members and their records: compliance keeps them; nobody deletes them by hand (erasure does).
_MEMBER_RECORDS = ("member", "institutionprofile", "relatedperson", "identitydocument", "verification",
                   "paymentinstrument")
_EDIT_MEMBERS = tuple(Grant("accounts", model, ("view", "add", "change")) for model in _MEMBER_RECORDS)
# Agents read members masked (the request desk, issue 6, grants them their queue).
_AGENT_READS = tuple(
    Grant("accounts", model, ("view",))
    for model in ("member", "institutionprofile", "relatedperson", "identitydocument", "verification",
                  "transactionrecord", "productline")
)

# Consents (issue 4): compliance keeps purposes, versions, guardians, recipients and the register;
# the ledger is append-only, so nobody gets change/delete on events (entries go through services).
_EDIT_CONSENTS = (
    Grant("consents", "purpose", ("view", "add", "change")),
    Grant("consents", "policyversion", ("view", "add", "change")),
    Grant("consents", "guardian", ("view", "add", "change")),
    Grant("consents", "consentevent", ("view", "add")),
    Grant("consents", "recipient", ("view", "add", "change")),
    Grant("consents", "disclosure", ("view", "add", "change")),
    # PP-17: compliance records processing on a legal ground (a supervisor approves it).
    Grant("consents", "processingonground", ("view", "add")),
)
_AGENT_CONSENT_READS = tuple(
    Grant("consents", model, ("view",)) for model in ("purpose", "consentstate", "consentevent", "guardian")
)

# Retention (issue 5): holds, reviews and assessments are compliance work; erasure is prepared by
# compliance and approved by a supervisor (four eyes). Records and job runs are read-only.
_EDIT_RETENTION = (
    Grant("retention", "legalhold", ("view", "add", "change")),
    Grant("retention", "erasurerun", ("view",)),
    Grant("retention", "processingreview", ("view", "add", "change")),
    Grant("retention", "impactassessment", ("view", "add", "change")),
)

# Request desk (issue 6): agents work the queue; compliance decides; supervisors approve deletions.
_AGENT_DESK = (
    Grant("requests_desk", "request", ("view", "add", "change")),
    Grant("requests_desk", "message", ("view", "add")),
    Grant("requests_desk", "identitycheck", ("view", "add")),
    Grant("requests_desk", "attachment", ("view", "add")),
    Grant("requests_desk", "transition", ("view",)),
)

ROLES: dict[str, Role] = {
    AUDITOR: Role(AUDITOR, grants=(*_READ_PROJECT, *_READ_AUDIT)),
    CUSTOMER_SERVICE_AGENT: Role(
        CUSTOMER_SERVICE_AGENT,
        grants=(*_AGENT_READS, *_AGENT_CONSENT_READS, *_AGENT_DESK),
        extra=("requests_desk.work_queue",),
    ),
    COMPLIANCE_OFFICER: Role(
        COMPLIANCE_OFFICER,
        grants=(*_READ_PROJECT, *_EDIT_SCHEDULE, *_EDIT_MEMBERS, *_EDIT_CONSENTS, *_EDIT_RETENTION, *_AGENT_DESK),
        # PP-25: unmasking, document download and imports are compliance work, each logged.
        extra=(
            "accounts.reveal_sensitive", "accounts.download_document", "accounts.import_members",
            "consents.publish_policyversion", "consents.approve_disclosure", "consents.end_processingonground",
            "retention.prepare_erasure",
            "requests_desk.work_queue", "requests_desk.decide_request",
        ),
    ),
    SUPERVISOR: Role(
        SUPERVISOR,
        grants=(
            Grant("admin", "logentry", ("view",)),
            Grant("django_celery_beat", "*", ("view",)),
            Grant("accounts", "productline", ("view", "add", "change")),
        ),
        # Four eyes on transfers and public disclosures (PP-22, PP-23) and on processing without
        # consent on a legal ground (PP-17).
        extra=("consents.approve_transfer_disclosure", "consents.approve_processingonground",
               "retention.approve_erasure", "requests_desk.approve_deletion"),
        inherits=(COMPLIANCE_OFFICER,),
    ),
}


def role_permissions(role: Role, available: dict[tuple[str, str], set[str]]) -> set[tuple[str, str]]:
    """Resolve a role to ``(app_label, codename)`` pairs.

    ``available`` maps ``(app_label, model)`` to that model's permission codenames. A grant that
    names a missing model or action is a bug in this file and raises.
    """
    wanted: set[tuple[str, str]] = set()
    for parent in role.inherits:
        wanted |= role_permissions(ROLES[parent], available)
    for grant in role.grants:
        if grant.model == "*":
            models = [m for (app, m) in available if app == grant.app_label]
        else:
            if (grant.app_label, grant.model) not in available:
                raise LookupError(f"Role {role.name!r} names unknown model {grant.app_label}.{grant.model}")
            models = [grant.model]
        for model in models:
            for action in grant.actions:
                codename = f"{action}_{model}"
                if codename not in available[(grant.app_label, model)]:
                    raise LookupError(f"Role {role.name!r} names unknown permission {codename}")
                wanted.add((grant.app_label, codename))
    for dotted in role.extra:
        app_label, codename = dotted.split(".", 1)
        if not any(codename in codes for (app, _m), codes in available.items() if app == app_label):
            raise LookupError(f"Role {role.name!r} names unknown permission {dotted}")
        wanted.add((app_label, codename))
    return wanted


def sync_roles(apps=None) -> dict[str, int]:
    """Create the role groups and set exactly their permissions. Returns permissions per role."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    perms = list(Permission.objects.select_related("content_type"))
    available: dict[tuple[str, str], set[str]] = {}
    by_key = {}
    for perm in perms:
        key = (perm.content_type.app_label, perm.content_type.model)
        available.setdefault(key, set()).add(perm.codename)
        by_key[(perm.content_type.app_label, perm.codename)] = perm

    counts = {}
    for role in ROLES.values():
        group, _created = Group.objects.get_or_create(name=role.name)
        wanted = role_permissions(role, available)
        group.permissions.set([by_key[key] for key in sorted(wanted)])
        counts[role.name] = len(wanted)
    return counts


def create_all_permissions(apps, schema_editor=None) -> None:
    """Make sure content types and permissions exist before roles are synced in a migration.

    Django creates them after ``migrate`` finishes (post_migrate); a data migration that assigns
    them must create them first.
    """
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    for app_config in global_apps.get_app_configs():
        create_contenttypes(app_config, verbosity=0, apps=global_apps)
        create_permissions(app_config, verbosity=0, apps=global_apps)


def sync_roles_migration(apps, schema_editor) -> None:
    """RunPython body for migrations: permissions first, then the groups."""
    create_all_permissions(apps, schema_editor)
    sync_roles()
