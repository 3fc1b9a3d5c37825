"""Requirement 11, style rule 6: no personal data in ``__str__`` (it feeds admin log entries).

Every concrete model of the project's four apps, historical models included, is built with a canary
in every free-text, e-mail and encrypted field; no canary of a personal field may show in ``str()``.
The member number is the sanctioned public identifier, and fields the data map declares not
personal (a product line's name, a policy's version) may show.
"""

import pytest
from django.db import models

from accounts.privacy import datamap
from tests.accounts.canaries import PROJECT_APPS, build, is_historical, project_models, saved

# The public identifier members are shown by everywhere (design: "identify a member by member number").
ALLOWED_IN_STR = {"member_number"}


def _not_personal(model) -> set[str]:
    dm = datamap.declaration(model)
    return set(dm.not_personal) if dm else set()


def _planted(obj, depth: int = 0) -> list[tuple[models.Model, str, list[str]]]:
    """Canaries of ``obj`` and of the related objects it was built with (a __str__ may follow a key)."""
    found = [(obj, name, strings) for name, strings in getattr(obj, "_canaries", {}).items()]
    if depth < 2:
        for field in obj._meta.concrete_fields:
            if field.is_relation:
                target = field.get_cached_value(obj, None)
                if target is not None:
                    found += _planted(target, depth + 1)
    return found


def _leaks(obj) -> list[str]:
    text = str(obj).lower()
    return sorted(
        f"{type(owner)._meta.label}.{name}"
        for owner, name, strings in _planted(obj)
        if name not in ALLOWED_IN_STR | _not_personal(type(owner)) and any(s.lower() in text for s in strings)
    )


def test_every_project_app_is_covered():
    labels = {m._meta.app_label for m in project_models()}
    assert {"accounts"} <= labels <= set(PROJECT_APPS)
    assert any(is_historical(m) for m in project_models()), "historical models must be checked too"


@pytest.mark.django_db
@pytest.mark.parametrize("model", project_models(), ids=lambda m: m._meta.label)
def test_str_shows_no_personal_value(model):
    # A history row prints the object it records, rebuilt from its columns: its keys must point
    # at saved rows. Live objects get built related objects that carry canaries of their own.
    related = saved if is_historical(model) else None
    obj = build(model, canaries=True, related=related, pk=4242)
    assert str(obj)
    assert _leaks(obj) == []


def test_the_check_catches_a_leaking_str(monkeypatch):
    """The check can fail: a __str__ showing a name or a decrypted e-mail is caught, by field."""
    from accounts.models import RelatedPerson

    HistoricalRelatedPerson = RelatedPerson.history.model

    monkeypatch.setattr(RelatedPerson, "__str__", lambda self: f"{self.legal_name} <{self.email}>")
    assert _leaks(build(RelatedPerson, canaries=True, pk=7)) == [
        "accounts.RelatedPerson.email",
        "accounts.RelatedPerson.legal_name",
    ]
    # History rows print their base object, so the leak shows there too.
    assert "accounts.HistoricalRelatedPerson.legal_name" in _leaks(build(HistoricalRelatedPerson, canaries=True, pk=8))


@pytest.mark.django_db
def test_saved_rows_and_their_history_show_no_personal_value():
    """Factories' realistic rows, live and historical, read back from the database."""
    from tests import factories

    document = factories.IdentityDocumentFactory()
    instrument = factories.PaymentInstrumentFactory()
    person = factories.RelatedPersonFactory()
    member = document.member
    texts = [str(document), str(instrument), str(person), str(member)]
    texts += [str(h) for h in member.history.all()]
    texts += [str(h) for h in document.history.all()]
    texts += [str(h) for h in instrument.history.all()]
    secrets = [
        document.number, member.email, member.phone, member.legal_name, member.local_name,
        instrument.number, person.legal_name, person.email, member.date_of_birth.isoformat(),
    ]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert str(member) == member.member_number
