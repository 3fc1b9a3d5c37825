"""The refusal grounds of policy section V(IV) in the staff's and the requester's language (PP-35, PP-36).

The catalogue itself (``consents.legal_grounds``) stores the policy's English wording; these are the
same eleven texts marked for translation so the request desk's catalogue carries their Chinese, the
policy's own wording. ``ground_wording`` shows a ground in the active language (its stored text when
no translation exists). tests/requests_desk/test_i18n.py checks the list matches the catalogue.
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_noop

#: PP-35: requests we may reject; PP-36: requests we cannot respond to (policy V(IV)).
REFUSAL_WORDINGS: tuple[str, ...] = (
    gettext_noop("The information asked for is not directly related to the requester's identity"),
    gettext_noop("Unprovoked duplication"),
    gettext_noop(
        "Needs excessive technical means (e.g. developing new systems or fundamentally changing current practice)"
    ),
    gettext_noop("Risks to the legitimate rights of others"),
    gettext_noop("Unrealistic"),
    gettext_noop("Related to national security and national defense security"),
    gettext_noop("Related to public safety, public health and major public interests"),
    gettext_noop("Related to crime investigation, prosecution, trial and execution of judgment"),
    gettext_noop("Sufficient evidence of subjective malice or abuse of rights by the subject of the information"),
    gettext_noop("Responding would seriously damage the legitimate rights and interests of the requester or of others"),
    gettext_noop("Trade secrets are involved"),
)


def ground_wording(ground) -> str:
    """A legal ground's wording in the active language."""
    return gettext(ground.wording)
