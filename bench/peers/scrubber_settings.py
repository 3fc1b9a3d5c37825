"""Settings for ``erasure_vs_scrubber.py``: the project's, plus django-scrubber (bench databases only).

django-scrubber keeps its fake values in a table of its own (``django_scrubber.FakeData``), so it has
to be an installed app; its rules are given by ``SCRUBBER_MAPPING`` (``scrubber_rules``), because the
models are not ours to edit here.
"""

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django_scrubber"]  # noqa: F405

SCRUBBER_MAPPING = {
    "accounts.Member": "scrubber_rules.MemberScrubbers",
    "accounts.InstitutionProfile": "scrubber_rules.InstitutionProfileScrubbers",
    "accounts.RelatedPerson": "scrubber_rules.RelatedPersonScrubbers",
    "accounts.IdentityDocument": "scrubber_rules.IdentityDocumentScrubbers",
    "accounts.PaymentInstrument": "scrubber_rules.PaymentInstrumentScrubbers",
    "accounts.DeviceRecord": "scrubber_rules.DeviceRecordScrubbers",
    "accounts.TransactionRecord": "scrubber_rules.TransactionRecordScrubbers",
    "consents.Guardian": "scrubber_rules.GuardianScrubbers",
}
SCRUBBER_ENTRIES_PER_PROVIDER = 1000
SCRUBBER_FAKER_LOCALE = "en_US"
