"""The de-identified research export (PP-18): unlinkable keys, generalised dates, k-anonymity."""

import codecs
import csv
import datetime
import re
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import Member
from retention import deidentify
from retention.jobs.deidentified import export_deidentified, generated_export_paths
from retention.models import JobRun
from tests.factories import DeviceRecordFactory, InstitutionFactory, MemberFactory, TransactionRecordFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 10)


def adult(*, region="Shanghai", nationality="CN", born=datetime.date(1990, 5, 17), **kwargs):
    member = MemberFactory(nationality=nationality, date_of_birth=born,
                           registered_at=timezone.make_aware(datetime.datetime(2024, 3, 9, 12, 0)), **kwargs)
    DeviceRecordFactory(member=member, region="Elsewhere", seen_at=timezone.now() - datetime.timedelta(days=9))
    DeviceRecordFactory(member=member, region=region, seen_at=timezone.now() - datetime.timedelta(days=1))
    return member


def read(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def population():
    group = [adult(legal_name=f"Canary Person{i}", email=f"canary{i}@leak.example") for i in range(5)]
    TransactionRecordFactory(member=group[0], amount="1000.40")
    TransactionRecordFactory(member=group[0], amount="999.70")
    lonely = adult(region="Singapore", nationality="SG")
    MemberFactory(date_of_birth=datetime.date(2014, 1, 1))  # a child: never in a research set
    MemberFactory(status=MemberStatus.CANCELLED)
    InstitutionFactory()
    return {"group": group, "lonely": lonely}


def test_age_bands_generalise_the_birth_year():
    assert deidentify.age_band(birth_year=2007, today=TODAY) == "18-24"
    assert deidentify.age_band(birth_year=1990, today=TODAY) == "35-44"
    assert deidentify.age_band(birth_year=1961, today=TODAY) == "65+"


def test_pp18_k_anonymise_suppresses_groups_smaller_than_k():
    rows = [{"age_band": "25-34", "nationality": "CN", "region": "X"}] * 5 + [
        {"age_band": "25-34", "nationality": "CN", "region": "Y"}]
    kept, suppressed, generalised = deidentify.k_anonymise(rows, k=5)
    assert (len(kept), suppressed, generalised) == (5, 1, 0)
    assert {row["region"] for row in kept} == {"X"}


def test_pp18_small_groups_are_generalised_before_they_are_suppressed():
    def rows(band, region, n, nationality="CN"):
        return [{"age_band": band, "nationality": nationality, "region": region}] * n

    data = rows("25-34", "X", 5) + rows("25-34", "Y", 3) + rows("25-34", "Z", 2) + rows("35-44", "Z", 4) + rows(
        "45-54", "Z", 1) + rows("25-34", "X", 1, nationality="SG")
    kept, suppressed, generalised = deidentify.k_anonymise(data, k=5)
    combos = Counter((r["age_band"], r["nationality"], r["region"]) for r in kept)
    assert combos == {("25-34", "CN", "X"): 5, ("25-34", "CN", "*"): 5, ("*", "CN", "*"): 5}
    assert (suppressed, generalised) == (1, 10)
    assert min(combos.values()) >= 5


def test_pp18_export_has_no_direct_identifiers_and_suppresses_rare_combinations(population, tmp_path):
    target = tmp_path / "research.csv"
    result = export_deidentified(path=target, today=TODAY, k=5)

    rows = read(target)
    assert (result.details["suppressed"], result.details["generalised"]) == (1, 0)
    assert result.details["rows"] == len(rows) == 5
    assert result.selected == 6  # the child, the cancelled member and the institution are not selected
    assert list(rows[0]) == list(deidentify.COLUMNS)
    assert {(r["age_band"], r["nationality"], r["region"]) for r in rows} == {("35-44", "CN", "Shanghai")}
    assert {r["registered_month"] for r in rows} == {"2024-03"}
    text = target.read_text()
    numbers = Member.objects.values_list("member_number", flat=True)
    for leaked in [*numbers, "Canary", "canary", "leak.example", "1990", "Singapore"]:
        assert leaked not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text), "no full dates"
    by_trades = sorted(rows, key=lambda r: -int(r["transactions"]))
    assert (by_trades[0]["transactions"], by_trades[0]["volume_usd"]) == ("2", "2000")


def test_pp18_keys_are_fresh_per_export_and_unlinkable(population, tmp_path):
    export_deidentified(path=tmp_path / "a.csv", today=TODAY, k=5)
    export_deidentified(path=tmp_path / "b.csv", today=TODAY, k=5)
    first = {r["record_key"] for r in read(tmp_path / "a.csv")}
    second = {r["record_key"] for r in read(tmp_path / "b.csv")}
    assert len(first) == len(second) == 5
    assert not first & second
    assert not first & set(Member.objects.values_list("member_number", flat=True))


def test_pp18_cells_that_look_like_formulas_are_escaped(tmp_path):
    for _ in range(5):
        adult(region="=HYPERLINK(\"http://evil.example\")")
    export_deidentified(path=tmp_path / "x.csv", today=TODAY, k=5)
    rows = read(tmp_path / "x.csv")
    assert {r["region"] for r in rows} == {"'=HYPERLINK(\"http://evil.example\")"}


def test_the_export_is_utf8_with_a_bom_so_excel_shows_chinese_regions(tmp_path):
    """Issue 16 req. 5: like the member and disclosure exports, the file opens in Excel as UTF-8."""
    for _ in range(5):
        adult(region="广东省深圳市")
    target = export_deidentified(path=tmp_path / "zh.csv", today=TODAY, k=5).details["path"]
    data = Path(target).read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    assert data.count(codecs.BOM_UTF8) == 1
    rows = read(target)
    assert list(rows[0]) == list(deidentify.COLUMNS)  # the BOM is not glued to the first header
    assert {r["region"] for r in rows} == {"广东省深圳市"}


def test_pp02_the_export_is_recorded_so_erasure_can_find_it(population):
    result = export_deidentified(today=TODAY, k=5)
    path = Path(result.details["path"])
    assert path.is_file()
    assert path.parent == Path(settings.MEDIA_ROOT) / "exports"
    run = JobRun.objects.get(job="export_deidentified")
    assert run.counts["path"] == str(path) and run.counts["suppressed"] == 1
    assert generated_export_paths() == [str(path)]


@pytest.mark.parametrize("count", [5, 50])
def test_pp18_the_dataset_is_one_query_whatever_the_members(count, django_assert_num_queries):
    for _ in range(count):
        member = adult()
        TransactionRecordFactory(member=member)
    with django_assert_num_queries(1):
        dataset = deidentify.build_dataset(today=TODAY, k=5)
    assert len(dataset.rows) == count


def test_pp18_dry_run_writes_no_file_and_records_nothing(population):
    out = StringIO()
    call_command("export_deidentified", "--dry-run", "--k", "5", stdout=out)
    exports = Path(settings.MEDIA_ROOT) / "exports"
    assert not exports.exists() or not any(exports.iterdir())
    assert not JobRun.objects.exists()
    assert "DRY RUN" in out.getvalue() and "suppressed: 1" in out.getvalue()


def test_pp18_command_writes_the_file_it_reports(population, tmp_path):
    out = StringIO()
    call_command("export_deidentified", "--path", str(tmp_path / "cmd.csv"), stdout=out)
    assert (tmp_path / "cmd.csv").is_file()
    assert str(tmp_path / "cmd.csv") in out.getvalue()
