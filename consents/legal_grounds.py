"""The fixed catalogue of legal grounds, in the policy's own wording (PP-17, PP-24, PP-35, PP-36).

Wordings and purpose names are stored in English and marked with ``gettext_noop``: the rows keep
the English text, and ``LegalGround.wording_text`` / ``Purpose.display_name`` look it up in the
consents catalogue, which holds the Chinese legal wording (个人信息保护法 / GB/T 35273).

A data migration writes it to ``LegalGround``; the request desk and the disclosure register
pick from it. Codes are stable identifiers; never renumber them.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

from consents.choices import GroundUse

# (code, use, section, position, wording)
CATALOGUE: tuple[tuple[str, str, str, int, str], ...] = (
    # I(V)3: eleven exceptions to authorised consent (PP-17)
    ("consent-national-security", GroundUse.CONSENT_EXCEPTION, "I(V)3", 1,
     gettext_noop("Related to national security and national defense security")),
    ("consent-public-safety", GroundUse.CONSENT_EXCEPTION, "I(V)3", 2,
     gettext_noop("Related to public safety, public health and major public interests")),
    ("consent-law-enforcement", GroundUse.CONSENT_EXCEPTION, "I(V)3", 3,
     gettext_noop("Related to judicial or administrative law enforcement such as crime investigation, prosecution, "
     "trial and judgment execution")),
    ("consent-vital-interests", GroundUse.CONSENT_EXCEPTION, "I(V)3", 4,
     gettext_noop("To protect your major legitimate rights and interests when it is difficult to obtain your consent")),
    ("consent-self-disclosed", GroundUse.CONSENT_EXCEPTION, "I(V)3", 5,
     gettext_noop("Personal information that you disclose to the public yourself")),
    ("consent-lawfully-public", GroundUse.CONSENT_EXCEPTION, "I(V)3", 6,
     gettext_noop("Collected from legally publicly disclosed information, such as legal news reports and government "
     "information disclosure")),
    ("consent-contract", GroundUse.CONSENT_EXCEPTION, "I(V)3", 7,
     gettext_noop("Necessary to sign and perform the relevant agreements or other written documents with you")),
    ("consent-safe-operation", GroundUse.CONSENT_EXCEPTION, "I(V)3", 8,
     gettext_noop("Necessary to maintain the safe and stable operation of the products and services, such as finding "
     "and handling faults")),
    ("consent-news-reporting", GroundUse.CONSENT_EXCEPTION, "I(V)3", 9,
     gettext_noop("Necessary for legal news reporting")),
    ("consent-research", GroundUse.CONSENT_EXCEPTION, "I(V)3", 10,
     gettext_noop("Statistical or academic research in the public interest, with the results de-identified")),
    ("consent-other-law", GroundUse.CONSENT_EXCEPTION, "I(V)3", 11,
     gettext_noop("Other circumstances stipulated by laws and regulations")),
    # III(IV): six exceptions to prior authorisation for sharing, transfer, public disclosure (PP-24)
    ("disclosure-national-security", GroundUse.AUTHORISATION_EXCEPTION, "III(IV)", 1,
     gettext_noop("Related to national security and national defense security")),
    ("disclosure-public-safety", GroundUse.AUTHORISATION_EXCEPTION, "III(IV)", 2,
     gettext_noop("Related to public safety, public health and major public interests")),
    ("disclosure-law-enforcement", GroundUse.AUTHORISATION_EXCEPTION, "III(IV)", 3,
     gettext_noop("Related to judicial or administrative law enforcement such as crime investigation, prosecution, "
     "trial and judgment execution")),
    ("disclosure-vital-interests", GroundUse.AUTHORISATION_EXCEPTION, "III(IV)", 4,
     gettext_noop("To protect your major legitimate rights and interests when it is difficult to get your consent")),
    ("disclosure-self-disclosed", GroundUse.AUTHORISATION_EXCEPTION, "III(IV)", 5,
     gettext_noop("Personal information you disclose to the public yourself")),
    ("disclosure-lawfully-public", GroundUse.AUTHORISATION_EXCEPTION, "III(IV)", 6,
     gettext_noop("Collected from legally and publicly disclosed information, such as legal news reports and "
     "government information disclosure")),
    # V(IV): requests we may reject (PP-35)
    ("reject-not-identity", GroundUse.REQUEST_REJECTION, "V(IV)", 1,
     gettext_noop("The information asked for is not directly related to the requester's identity")),
    ("reject-unprovoked-duplicate", GroundUse.REQUEST_REJECTION, "V(IV)", 2, gettext_noop("Unprovoked duplication")),
    ("reject-excessive-means", GroundUse.REQUEST_REJECTION, "V(IV)", 3,
     gettext_noop("Needs excessive technical means (e.g. developing new systems or fundamentally changing "
                  "current practice)")),
    ("reject-risk-to-others", GroundUse.REQUEST_REJECTION, "V(IV)", 4,
     gettext_noop("Risks to the legitimate rights of others")),
    ("reject-unrealistic", GroundUse.REQUEST_REJECTION, "V(IV)", 5, gettext_noop("Unrealistic")),
    # V(IV): requests we cannot respond to (PP-36)
    ("cannot-national-security", GroundUse.CANNOT_RESPOND, "V(IV)", 1,
     gettext_noop("Related to national security and national defense security")),
    ("cannot-public-safety", GroundUse.CANNOT_RESPOND, "V(IV)", 2,
     gettext_noop("Related to public safety, public health and major public interests")),
    ("cannot-crime-investigation", GroundUse.CANNOT_RESPOND, "V(IV)", 3,
     gettext_noop("Related to crime investigation, prosecution, trial and execution of judgment")),
    ("cannot-malice-or-abuse", GroundUse.CANNOT_RESPOND, "V(IV)", 4,
     gettext_noop("Sufficient evidence of subjective malice or abuse of rights by the subject of the information")),
    ("cannot-serious-harm", GroundUse.CANNOT_RESPOND, "V(IV)", 5,
     gettext_noop("Responding would seriously damage the legitimate rights and interests of the requester or "
                  "of others")),
    ("cannot-trade-secrets", GroundUse.CANNOT_RESPOND, "V(IV)", 6, gettext_noop("Trade secrets are involved")),
)

# The policy's own purposes (issue 4, requirement 1): (code, name, kind, biometric, data categories)
POLICY_PURPOSES: tuple[tuple[str, str, str, bool, tuple[str, ...]], ...] = (
    ("account-identity", gettext_noop("Account and identity"), "basic", False, ("identity", "contact", "account")),
    ("real-name-verification", gettext_noop("Real-name verification"), "basic", False, ("identity", "verification")),
    ("transactions", gettext_noop("Transactions"), "basic", False, ("transaction", "financial")),
    ("security-fraud", gettext_noop("Security and fraud prevention"), "basic", False, ("device", "location")),
    ("customer-service", gettext_noop("Customer service and disputes"),
     "basic", False, ("communication", "transaction")),
    ("advanced-face-verification", gettext_noop("Advanced face verification"),
     "additional", True, ("biometric", "verification")),
    ("profiling-push", gettext_noop("Profiling and personalised push"), "additional", False, ("device", "transaction")),
    ("marketing-sms", gettext_noop("Marketing SMS"), "additional", False, ("contact",)),
    ("cookies-analytics", gettext_noop("Cookies and analytics"), "additional", False, ("device",)),
    ("research-deidentified", gettext_noop("Research on de-identified data"), "additional", False, ("transaction",)),
)

BIOMETRIC_PURPOSE = "advanced-face-verification"
SMS_WITHDRAWN_PURPOSES = ("marketing-sms", "profiling-push")
INITIAL_POLICY_VERSION = "2024.1"
