"""The docs stay true: ``docs/obligations.md`` has a row per PP-ID, and every test and code path that
it, the other ``docs/*.md`` and the READMEs cite exists.

A renamed test or a moved function would otherwise leave the map pointing at nothing (issue 14
requirement 6: each obligation shown "with the code and a test that fails without it").
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "obligations.md"
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "bench" / "README.md"]


def _cited(pattern: re.Pattern) -> list[tuple[str, ...]]:
    return sorted({(doc.relative_to(ROOT).as_posix(), *ref) for doc in DOCS
                   for ref in pattern.findall(doc.read_text(encoding="utf-8"))})
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)")
CODE_REF = re.compile(r"`((?:accounts|consents|retention|requests_desk|config)/[\w/]+\.py):([A-Za-z_]\w*)(?:\.(\w+))?")


@cache
def _names(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return frozenset(names)


def test_every_obligation_has_a_row_and_all_are_kept():
    text = DOC.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (PP-\d\d) \|[^|]*\| (\w+)", text, flags=re.M))
    assert sorted(rows) == [f"PP-{n:02d}" for n in range(1, 43)]
    assert {pp: status for pp, status in rows.items() if status != "kept"} == {}


def test_every_cited_test_exists():
    missing = []
    for doc, path, name in _cited(TEST_REF):
        file = ROOT / path
        if not file.exists() or name not in _names(file):
            missing.append(f"{doc}: {path}::{name}")
    assert not missing, "the docs cite tests that do not exist:\n" + "\n".join(missing)


def test_every_cited_function_exists():
    missing = []
    for doc, path, name, _attribute in _cited(CODE_REF):
        file = ROOT / path
        if not file.exists() or name not in _names(file):
            missing.append(f"{doc}: {path}:{name}")
    assert not missing, "the docs cite code that does not exist:\n" + "\n".join(missing)
