"""Issue 16, requirement 2 and 4: every letter, notice and staff e-mail exists in English and in
Simplified Chinese, renders with a realistic context in both, and the Chinese rendering has no
sentence of ours left in English (its lines compared after the data values are removed)."""

import datetime
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.template.loader import select_template
from django.utils import translation

from accounts.languages import localized_template, localized_templates
from requests_desk.letters import LETTER_DIR, LETTERS
from retention.reminders import DigestItem

TEMPLATES = Path(settings.BASE_DIR) / "templates"
#: Words that are the same in a Chinese letter: formats, codes and obligation IDs.
SAME_IN_BOTH = {"README", "JSON", "CSV", "CNY", "UTC", "App", "PP"}
NOTE = "NoteValue-Xq"
DATA = {
    "reference": "DSR-ABCD2345", "requester_name": "Ann Lee", "type_label": "Access",
    "received_on": datetime.date(2026, 3, 3), "due_on": datetime.date(2026, 3, 18), "note": NOTE,
    "grounds": [{"wording": "GroundWording-Xq", "section": "VI(II)", "reference": "Ref-Xq"}],
    "requests_email": "requests@example.com", "complaints_email": "complaints@example.com", "due_days": 15,
    # What fulfilment steps pass (letters.py extra):
    "fee_amount": 25, "currency": "CNY", "hours": 72, "link": "https://x.example/p/Tok",
    "expires_at": datetime.datetime(2026, 3, 21, 10, 0, tzinfo=datetime.UTC),
    "fields": ["FieldLabel-Xq"], "grace_days": 30, "erase_on": datetime.date(2026, 4, 2),
    "kept": [SimpleNamespace(record_type="RecordType-Xq", categories=["Category-Xq"], fields=["FieldLabel-Xq"],
                             days=1825, until=datetime.date(2031, 3, 3))],
    "purposes": ["Purpose-Xq"], "held": True,
}
STAFF = {
    "requests_desk/email/reminder_digest.txt": {
        "today": datetime.date(2026, 3, 3), "due_days": 15,
        "items": [DigestItem(label="DSR-ABCD2345 · Access · due in 1 day", due=datetime.date(2026, 3, 4),
                             path="/desk/r/DSR-ABCD2345/",
                             reference="DSR-ABCD2345", type_label="Access", days_left=1),
                  DigestItem(label="DSR-ABCD2346 · Access · 2 days overdue · unassigned", due=datetime.date(2026, 3, 1),
                             path="/desk/r/DSR-ABCD2346/",
                             overdue=True, reference="DSR-ABCD2346", type_label="Access", days_left=-2,
                             unassigned=True),
                  DigestItem(label="… and 5 more overdue requests: see the queue", due=datetime.date(2026, 3, 1),
                             path="/desk/?overdue=on", overdue=True,
                             more=5)]},
    "retention/email/review_reminder.txt": {
        "today": datetime.date(2026, 3, 3), "days": 30,
        "items": [DigestItem(label="L-Xq", due=datetime.date(2026, 3, 4), path="/admin/x/", overdue=True)]},
    "consents/email/reconsent_notice.txt": {
        "member_number": "M000900101", "narrows": True,
        "version": SimpleNamespace(version="2026.2", effective_at=datetime.date(2026, 4, 1), summary="Summary-Xq")},
    "retention/email/service_closed.txt": {
        "line": SimpleNamespace(name="Line-Xq", closed_on=datetime.date(2026, 3, 1)), "member_number": "M000900101",
        "erased": True, "contact": "requests@example.com"},
}
#: Every branch of the templates that says something different (``outcome`` of the fulfilment letter,
#: a kept list or none, a narrowing version or not, erased or kept).
VARIANTS = [{}, {"outcome": "consent_withdrawn"}, {"outcome": "underage_confirmed"},
            {"outcome": "security_handled"}, {"kept": [], "held": False, "note": ""}]
CASES = ([(f"{LETTER_DIR}/{name}.txt", {**DATA, **variant}) for name in LETTERS for variant in VARIANTS]
         + [(path, context) for path, context in STAFF.items()]
         + [("consents/email/reconsent_notice.txt", {**STAFF["consents/email/reconsent_notice.txt"], "narrows": False}),
            ("retention/email/service_closed.txt", {**STAFF["retention/email/service_closed.txt"], "erased": False})])


def render(path: str, context: dict, language: str) -> str:
    with translation.override(language):
        return select_template(localized_templates(path, language)).render(context)


def without_data(text: str) -> str:
    """The text with the data values removed: what is left is the template's own wording."""
    text = re.sub(r"https?://\S+|/\S*|\S+@\S+", " ", text)
    text = re.sub(r"[A-Za-z]*-Xq|DSR-\w+|M\d+|PP-\d+|Ann Lee|Access|VI\(II\)|I\(V\)", " ", text)
    return text


@pytest.mark.parametrize("path", sorted({path for path, _ in CASES}))
def test_every_letter_and_notice_exists_in_english_and_in_chinese(path):
    assert (TEMPLATES / path).is_file()
    assert (TEMPLATES / localized_template(path, "zh-hans")).is_file(), f"no zh-hans version of {path}"


@pytest.mark.parametrize(("path", "context"), CASES, ids=[f"{p}-{i}" for i, (p, _) in enumerate(CASES)])
def test_the_chinese_rendering_leaves_no_sentence_of_ours_in_english(path, context):
    english = render(path, context, "en")
    chinese = render(path, context, "zh-hans")
    assert english != chinese
    # The same data reaches both: every value shown in English is shown in Chinese too.
    for value in re.findall(r"[A-Za-z]*-Xq|DSR-\w+|M\d{6,}", english):
        assert value.strip("“”.,:()") in chinese, f"{value} is missing from the Chinese {path}"
    for number, line in enumerate(without_data(chinese).splitlines(), start=1):
        words = [w for w in re.findall(r"[A-Za-z]{2,}", line) if w not in SAME_IN_BOTH]
        assert not words, f"{path} (zh-hans) line {number} is still English: {line!r}"
    english_lines = {line.strip() for line in without_data(english).splitlines() if re.search(r"[a-z]{3}", line)}
    assert english_lines, "the English rendering has wording to compare"
    assert not english_lines & {line.strip() for line in without_data(chinese).splitlines()}
