"""PP-14: the scheduled job ``requests_desk.ingest_mail`` reads ``INBOUND_MAIL_DIR`` every few minutes.

The task runs the command's plain function (``requests_desk.mail.directory.mail_directory_ingest``) with
``remove_processed``: a file is deleted once its message is kept encrypted on its request, so a
rerun reads nothing twice and no plaintext copy stays behind; one run at a time per directory.
"""

import logging
from io import StringIO

import pytest
from django.core.management import call_command

from config.schedule import SCHEDULE
from requests_desk import tasks
from requests_desk.mail.directory import _directory_lock, mail_directory_ingest
from requests_desk.models import Message, Request
from tests.requests_desk.test_ingest_mail import eml

pytestmark = pytest.mark.django_db


def test_pp14_the_ingest_job_is_on_the_beat_schedule_every_five_minutes():
    [job] = [job for job in SCHEDULE if job.task == "requests_desk.ingest_mail"]
    assert (job.minute, job.hour) == ("*/5", "*")


def test_pp14_without_a_mail_directory_the_job_does_nothing_and_says_so(settings, caplog):
    settings.INBOUND_MAIL_DIR = ""
    with caplog.at_level(logging.INFO, logger="requests_desk"):
        result = tasks.ingest_mail.apply().get()
    assert result == {"skipped": "INBOUND_MAIL_DIR is not set"}
    assert "INBOUND_MAIL_DIR is not set" in caplog.text
    assert not Request.objects.exists()


def test_pp14_the_job_ingests_the_directory_and_removes_what_it_kept(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.INBOUND_MAIL_DIR = str(tmp_path)
    eml(tmp_path, "a.eml", message_id="<a@mail.example>")
    eml(tmp_path, "b.eml", message_id="<b@mail.example>")
    (tmp_path / "broken.eml").write_bytes(b"")

    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.ingest_mail.apply().get()

    # (Files are removed after the commit, so the count the test's transaction sees is not final.)
    assert {k: v for k, v in result.items() if k != "removed"} == {
        "files": 3, "created": 2, "quarantined": 1, "busy": False}
    assert Request.objects.count() == 2 and Message.objects.count() == 2
    assert sorted(p.name for p in tmp_path.glob("*.eml")) == []
    assert (tmp_path / "quarantine" / "broken.eml").exists()  # kept aside for a person to look at

    with django_capture_on_commit_callbacks(execute=True):
        again = tasks.ingest_mail.apply().get()
    assert (again["files"], again["busy"]) == (0, False)
    assert Request.objects.count() == 2


def test_pp14_a_file_already_kept_is_removed_without_a_second_message(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.INBOUND_MAIL_DIR = str(tmp_path)
    eml(tmp_path, "a.eml", message_id="<same@mail.example>")
    call_command("ingest_mail", str(tmp_path), "--no-progress", stdout=StringIO())  # leaves the file
    assert (tmp_path / "a.eml").exists()

    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.ingest_mail.apply().get()

    assert result["duplicate"] == 1
    assert not (tmp_path / "a.eml").exists()
    assert Message.objects.count() == 1


def test_pp02_a_file_is_removed_only_after_its_message_is_committed(tmp_path, django_capture_on_commit_callbacks):
    eml(tmp_path, "a.eml")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        mail_directory_ingest(tmp_path, remove_processed=True)
    assert (tmp_path / "a.eml").exists()  # not committed yet: a rollback would lose nothing
    assert len(callbacks) == 1
    callbacks[0]()
    assert not (tmp_path / "a.eml").exists()


def test_pp14_a_run_finding_another_run_on_the_directory_reads_nothing(settings, tmp_path):
    settings.INBOUND_MAIL_DIR = str(tmp_path)
    eml(tmp_path, "a.eml")
    with _directory_lock(tmp_path) as locked:
        assert locked
        result = tasks.ingest_mail.apply().get()
        output = StringIO()
        call_command("ingest_mail", str(tmp_path), "--no-progress", stdout=output)
    assert result["busy"] is True and result["files"] == 0
    assert "Another ingest run is reading this directory" in output.getvalue()
    assert not Request.objects.exists()
    # Released: the next run reads it.
    assert mail_directory_ingest(tmp_path).counts == {"created": 1}


def test_pp14_the_command_removes_processed_files_when_asked(tmp_path, django_capture_on_commit_callbacks):
    eml(tmp_path, "a.eml")
    output = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ingest_mail", str(tmp_path), "--no-progress", "--remove-processed", stdout=output)
    assert "created: 1" in output.getvalue()
    assert not (tmp_path / "a.eml").exists()
    assert Request.objects.count() == 1


def test_the_job_result_names_no_file(settings, tmp_path, django_capture_on_commit_callbacks):
    settings.INBOUND_MAIL_DIR = str(tmp_path)
    (tmp_path / "wang-fang.eml").write_bytes(b"")
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.ingest_mail.apply().get()
    assert "wang" not in repr(result)


@pytest.mark.django_db(transaction=True)
def test_pp14_outside_a_transaction_the_job_reports_the_files_it_removed(settings, tmp_path):
    # As on a worker: each message commits on its own, and its file goes right after.
    settings.INBOUND_MAIL_DIR = str(tmp_path)
    eml(tmp_path, "a.eml", message_id="<a@mail.example>")
    eml(tmp_path, "b.eml", message_id="<b@mail.example>")
    result = tasks.ingest_mail.apply().get()
    assert (result["created"], result["removed"]) == (2, 2)
    assert list(tmp_path.glob("*.eml")) == []
