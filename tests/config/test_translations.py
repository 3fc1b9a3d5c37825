"""Nothing untranslated slips through (issue 16, requirement 4; the letters and notices of PP-14, PP-29,
PP-30, PP-34, PP-35, PP-36, PP-39).

1. Every desk page and every admin page (index, each app, the changelist and change form of every
   registered model) is rendered in English and in zh-Hans; a visible text of the English page that
   holds an English word and comes back unchanged on the Chinese page is a string of ours left in
   English, unless it is data. Data is recognised by value: every text stored in the database (the
   world of tests/security/test_permission_matrix.py) is split into words, and those words, the
   identifiers on the page (references, member numbers, e-mails, numbers) and the few true non-words
   of ``NOT_WORDS`` are removed before looking for an English word.
2. Every committed .po is complete (no empty msgstr, no fuzzy entry, no obsolete entry) and its .mo
   holds exactly what the .po says (compiled here in Python, tests/po.py: no GNU gettext needed).
3. ``makemessages`` would add nothing: the gettext calls with a literal text found in our Python files
   (``ast``) and the ``{% translate "…" %}`` texts of our templates are all in the catalogue; where GNU
   xgettext is installed, ``makemessages`` itself runs on a copy and must find exactly the committed msgids.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import gettext
import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import django
import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.core.management import call_command
from django.db import models, transaction
from django.test import Client, override_settings
from django.urls import reverse

from consents.models import LegalGround
from requests_desk import lifecycle, workflow
from requests_desk.choices import IntakeChannel, RequesterKind, RequestType
from tests.po import compile_mo, messages_of, read_mo, read_po
from tests.security.test_permission_matrix import build_world, model_label

BASE = Path(settings.BASE_DIR)
OUR_APPS = ("accounts", "consents", "requests_desk", "retention")
#: Catalogues other helpers of issue 16 fill in their branches (accounts: "accounts"; consents and
#: retention: "cr"). Their pages are expected to fail here until the merge: the lead empties this set.
PENDING_APPS: set[str] = set()
#: True non-words that stay as they are in Chinese: brand and product names, codes, abbreviations.
NOT_WORDS = {
    "ID", "OTP", "TOTP", "QR", "CSV", "XLSX", "YAML", "JSON", "ZIP", "IP", "URL", "ISO", "PP", "DSR", "NUL",
    "Fides", "Django", "App", "Message-ID", "YYYY-MM-DD", "HH", "MM", "SMS", "PDF", "UTC", "GB", "MB", "KB",
    "English", "manage.py", "ingest_mail", "enrol_otp", "purge_under_14", "deletion_refuse_held", "details",
    "purposes", "Celery", "Redis", "IMEI",
    "True", "False",  # the alt text of Django's boolean icons, which Django does not translate
}
#: Labels of foreign keys declared without a verbose name: Django derives "Assignee" from the field's name,
#: which no catalogue can translate. Giving them one changes the migration state, so it waits for a
#: requests_desk migration the lead names at merge (issue 16); until then these pages are expected failures.
PENDING_VERBOSE_NAMES: set[str] = set()
CATALOGUES = [*sorted(BASE.glob("*/locale/zh_Hans/LC_MESSAGES/django.po")),
              BASE / "locale/zh_Hans/LC_MESSAGES/django.po"]

_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*[A-Za-z]")
_IDENTIFIER = re.compile(
    r"\S*\*{3,}\S*|\S+@\S+|\b(?:DSR|M|I)-?[0-9A-Z]{6,}\b|\bhttps?://\S+|/\S*|#\d+|\b[\w.-]+\.(?:py|eml|csv|xlsx|zip|html)\b"
)


class _Text(HTMLParser):
    """The visible texts of a page, and the attribute texts a person reads (title, alt, placeholder, buttons)."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "textarea", "pre", "option", "code", "select"):
            self._skip += 1
        attrs = dict(attrs)
        for name in ("title", "alt", "placeholder", "aria-label"):
            if attrs.get(name):
                self.texts.append(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.texts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "textarea", "pre", "option", "code", "select") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        text = " ".join(data.split())
        if text and not self._skip:
            self.texts.append(text)


def visible_texts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.texts


def english_words(text: str, data_words: set[str]) -> list[str]:
    """The English words of ``text`` once identifiers, data and non-words are taken out."""
    text = _IDENTIFIER.sub(" ", text)
    return [w for w in _WORD.findall(text)
            if w not in data_words and w not in NOT_WORDS and w.lower() not in data_words]


def left_in_english(english_html: str, chinese_html: str, data_words: set[str]) -> list[str]:
    chinese = set(visible_texts(chinese_html))
    found = []
    for text in dict.fromkeys(visible_texts(english_html)):
        if text in chinese and english_words(text, data_words):
            found.append(text)
    return found


def _str(row) -> str:
    """A record's own name (its __str__); Django's LogEntry of a hand-written message has none."""
    with contextlib.suppress(TypeError, ValueError):
        return str(row)
    return ""


def _data_words() -> set[str]:
    """Every word of every text stored in the database: the records' values, never ours."""
    words: set[str] = set()
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, models.CharField | models.TextField
                                                                             | models.JSONField | models.EmailField)]
        if not fields:
            continue
        for row in model._default_manager.all()[:500]:
            for f in fields:
                for word in _WORD.findall(str(getattr(row, f.attname))):
                    words.add(word)
                    words.add(word.lower())
            for word in _WORD.findall(_str(row)):
                words.update((word, word.lower()))
    return words


# --- The pages --------------------------------------------------------------------------------------------
def _admin_pages() -> list[tuple[str, str]]:
    """(app label, page id): the admin index, each of our apps, each of our models' changelist and change form."""
    # Third-party packages' own pages (axes, django-otp, celery beat…) are theirs, not ours.
    ours = sorted((m for m in admin.site._registry if m._meta.app_label in OUR_APPS), key=lambda m: m._meta.label)
    pages = [("admin", "admin:index")]
    pages += [(label, f"app_list:{label}") for label in sorted({m._meta.app_label for m in ours})]
    for model in ours:
        pages.append((model._meta.app_label, f"changelist:{model._meta.label}"))
        pages.append((model._meta.app_label, f"change:{model._meta.label}"))
    return pages


DESK_PAGES = [("requests_desk", name) for name in (
    "desk:queue", "desk:dashboard", "desk:intake", "desk:request:new", "desk:request:in_progress",
    "desk:request:refused", "desk:request:deletion", "error:404",
)] + [("accounts", "accounts:data_map")]  # the data map lists every app's declarations (accounts' vocabulary)
PAGES = DESK_PAGES + _admin_pages()


def _url(world, page: str) -> str:
    kind, _, rest = page.partition(":")
    if page == "admin:index":
        return reverse("admin:index")
    if kind == "app_list":
        return reverse("admin:app_list", args=[rest])
    if kind in ("changelist", "change"):
        model = apps.get_model(rest)
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}_{kind}"
        return reverse(name) if kind == "changelist" else reverse(name, args=[world.objects[model_label(model)].pk])
    if page == "desk:queue":
        return reverse("requests_desk:queue")
    if page == "desk:dashboard":
        return reverse("requests_desk:dashboard")
    if page == "desk:intake":
        return reverse("requests_desk:intake")
    if page.startswith("desk:request:"):
        return reverse("requests_desk:request_detail", args=[world.extra["pages"][page.rsplit(":", 1)[1]].reference])
    if page == "accounts:data_map":
        return reverse("accounts:data_map")
    return "/no-such-page/"


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The permission matrix's world (a record of every admin model), with requests in several states."""
    media = tmp_path_factory.mktemp("i18n-media")
    hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with (django_db_blocker.unblock(), override_settings(MEDIA_ROOT=media, PASSWORD_HASHERS=hashers),
          transaction.atomic()):
        built = build_world(media)

        def create(type_, **kwargs):
            return lifecycle.request_create(type=type_, requester_kind=RequesterKind.MEMBER,
                                            channel=IntakeChannel.EMAIL, member=built.member,
                                            subject="Data", description="data", **kwargs)

        new = create(RequestType.ACCESS)
        started = workflow.transition(request=create(RequestType.CORRECTION), name="start", user=None, note="")
        refused = workflow.transition(request=create(RequestType.COMPLAINT, concerns=new), name="start", user=None)
        grounds = list(LegalGround.objects.filter(use="cannot_respond")[:2])
        refused = workflow.transition(request=refused, name="refuse", user=None, note="Reason", grounds=grounds)
        built.extra["pages"] = {"new": new, "in_progress": started, "refused": refused,
                                "deletion": built.extra.get("deletion") or new}
        built.extra["data_words"] = _data_words()
        yield built
        transaction.set_rollback(True)


def _render(user, url: str, language: str) -> str:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    response = client.get(url)
    assert response.status_code in (200, 404), f"{url}: {response.status_code}"
    return response.content.decode()


def _pending(app: str, page: str):
    marks = [pytest.mark.xfail(reason=f"{app}: its catalogue is filled in another branch (PENDING_APPS)",
                               strict=False)] if app in PENDING_APPS else []
    return pytest.param(app, page, id=page, marks=marks)


def _po_msgids(directory: Path) -> set[str]:
    """The msgids of one catalogue of a package (all its languages share them), lower-cased."""
    for po in sorted(directory.glob("locale/*/LC_MESSAGES/*.po")):
        return {e.msgid.lower() for e in read_po(po) if e.msgid}
    return set()


def _model_names(app_labels) -> set[str]:
    names = set()
    for model in apps.get_models():
        if model._meta.app_label in app_labels:
            names |= {str(model._meta.verbose_name).lower(), str(model._meta.verbose_name_plural).lower()}
    return names


@functools.cache
def not_ours() -> set[str]:
    """Texts of Django and third-party packages (their catalogues, their models' names), lower-cased."""
    texts = set()
    for config in apps.get_app_configs():
        if config.name not in OUR_APPS:
            texts |= _po_msgids(Path(config.path)) | _model_names({config.label})
    return texts | _po_msgids(Path(django.__file__).parent / "conf")


@functools.cache
def pending() -> set[str]:
    """Texts marked for translation in the apps of PENDING_APPS, whose catalogues other branches fill."""
    texts = _model_names(PENDING_APPS) | PENDING_VERBOSE_NAMES
    for app in PENDING_APPS:
        texts |= {msgid.lower() for msgid in _python_msgids(BASE / app)}
    return texts


@pytest.mark.parametrize(("app", "page"), [_pending(app, page) for app, page in PAGES])
def test_pp14_every_page_of_ours_is_in_chinese(world, superuser, app, page):
    """A Chinese browser gets no string of ours in English on any desk or admin page (PP-14, PP-34-36).

    Texts of Django and third-party packages are theirs (their catalogues translate them or not). Texts
    marked in an app of PENDING_APPS make the page an expected failure until that catalogue is merged.
    """
    url = _url(world, page)
    english, chinese = _render(superuser, url, "en"), _render(superuser, url, "zh-CN")
    data_words = world.extra["data_words"] | set(_WORD.findall(f"{superuser.full_name} {superuser.email}"))
    found = [text for text in left_in_english(english, chinese, data_words) if text.lower() not in not_ours()]
    ours = [text for text in found if text.lower() not in pending()]
    assert not ours, f"{page} ({url}) left in English in zh-Hans:\n  " + "\n  ".join(ours)
    if found:
        pytest.xfail(f"{page}: waiting for the catalogues of {sorted(PENDING_APPS)} or PENDING_VERBOSE_NAMES: "
                     + "; ".join(found))


def test_the_check_finds_a_string_left_in_english():
    """The method itself: an English label unchanged on the Chinese page is found, data is not."""
    english = "<p>Request queue</p><td>DSR-ABCD2345</td><td>Wang Fang</td><button>Take next</button>"
    chinese = "<p>请求队列</p><td>DSR-ABCD2345</td><td>Wang Fang</td><button>Take next</button>"
    assert left_in_english(english, chinese, {"Wang", "Fang"}) == ["Take next"]


# --- The catalogues ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.relative_to(BASE)))
def test_catalogue_is_complete_and_not_fuzzy(po):
    entries = read_po(po)
    problems = [f"line {e.line}: {e.msgid[:60]!r} " + ("fuzzy" if "fuzzy" in e.flags else "obsolete" if e.obsolete
                                                      else "not translated")
                for e in entries if e.msgid and ("fuzzy" in e.flags or e.obsolete or not e.translated)]
    assert len(entries) > 1, f"{po} is empty"
    assert not problems, f"{po}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.relative_to(BASE)))
def test_committed_mo_matches_its_po(po):
    """A fresh clone has no msgfmt: the committed .mo must hold what the .po says."""
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{mo} is not committed: run `make messages`"
    expected = messages_of(read_po(po))
    actual = read_mo(mo)
    actual_no_header = {k: v for k, v in actual.items() if k}
    expected_no_header = {k: v for k, v in expected.items() if k}
    assert actual_no_header == expected_no_header, f"{mo} is stale: run `make messages`"
    assert read_mo_bytes_roundtrip(expected)


def read_mo_bytes_roundtrip(messages: dict[str, str]) -> bool:
    """The Python compiler writes what gettext reads (so a clone could compile without GNU gettext)."""
    catalogue = gettext.GNUTranslations(io.BytesIO(compile_mo(messages)))
    return all(catalogue._catalog.get(k) == v for k, v in messages.items() if k and "\x00" not in k)


# --- makemessages would add nothing -------------------------------------------------------------------------
_GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "gettext_noop"}  # what makemessages extracts
_TEMPLATE_TRANSLATE = re.compile(r"""{%\s*translate\s+(["'])(.*?)\1""")


def _python_msgids(root: Path) -> dict[str, str]:
    found = {}
    for path in root.rglob("*.py"):
        if "migrations" in path.parts or "locale" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _GETTEXT_NAMES
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found[node.args[0].value] = f"{path.relative_to(BASE)}:{node.lineno}"
    return found


def _template_msgids(root: Path) -> dict[str, str]:
    found = {}
    for path in root.rglob("*.html"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for match in _TEMPLATE_TRANSLATE.finditer(line):
                found[match[2]] = f"{path.relative_to(BASE)}:{number}"
    return found


def _catalogue_msgids(po: Path) -> set[str]:
    return {e.msgid for e in read_po(po) if e.msgid and not e.obsolete}


#: Our catalogues (issue 16 helper "desk") and where their strings come from.
OWN = {
    "requests_desk": (BASE / "requests_desk/locale/zh_Hans/LC_MESSAGES/django.po", [BASE / "requests_desk"]),
    "project": (BASE / "locale/zh_Hans/LC_MESSAGES/django.po", [BASE / "templates", BASE / "config"]),
}


@pytest.mark.parametrize("name", sorted(OWN))
def test_every_marked_string_is_in_its_catalogue(name):
    """Without GNU gettext: every literal gettext call and {% translate %} text has its catalogue entry."""
    po, roots = OWN[name]
    known = _catalogue_msgids(po)
    marked = {}
    for root in roots:
        marked.update(_python_msgids(root))
        marked.update(_template_msgids(root))
    missing = sorted(f"{where}: {msgid!r}" for msgid, where in marked.items() if msgid not in known)
    assert marked, f"no marked string found under {roots}"
    assert not missing, f"{po} lacks (run `make messages`):\n  " + "\n  ".join(missing)


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU xgettext not installed; the AST check above stands")
@pytest.mark.parametrize("name", sorted(OWN))
def test_makemessages_finds_no_new_entry(name, tmp_path, monkeypatch):
    po, roots = OWN[name]
    work = tmp_path / "src"
    work.mkdir()
    for root in roots:
        shutil.copytree(root, work / root.name, ignore=shutil.ignore_patterns("locale", "__pycache__"))
    (work / "locale/zh_Hans/LC_MESSAGES").mkdir(parents=True)
    shutil.copy(po, work / "locale/zh_Hans/LC_MESSAGES/django.po")
    monkeypatch.chdir(work)
    with override_settings(LOCALE_PATHS=[]):
        call_command("makemessages", locale=["zh_Hans"], verbosity=0)
    extracted = _catalogue_msgids(work / "locale/zh_Hans/LC_MESSAGES/django.po")
    committed = _catalogue_msgids(po)
    assert extracted - committed == set(), f"makemessages adds to {po}: {sorted(extracted - committed)}"
    assert committed - extracted == set(), f"{po} holds entries no source uses: {sorted(committed - extracted)}"
