"""Broker down: the work asked for is kept in the database and sent when the broker is back.

A run requested or a file uploaded while the broker cannot be reached is saved, its job waits in the
outbox, the person is told it is queued (never a 500), and the sweeper hands the job over once the
broker answers again; a real worker on a real broker then does the work.
"""

import io
import time
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone
from helpers import D, lines, point_broker, txn, wechat_bill, wechat_rows
from rest_framework.test import APIClient

from backoffice.models import OutboxJob
from backoffice.services.jobs import job_enqueue, outbox_send
from reconciliation.models import ReconciliationRun, RunStatus, StatementFile

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: the connection is refused at once


@pytest.fixture
def broker_down(celery_worker):
    """A real worker on the real broker, while this process publishes to a broker that is down (the
    worker keeps consuming from where it started)."""
    working = celery_worker.conf.broker_url
    point_broker(celery_worker, DEAD_BROKER)
    yield lambda: point_broker(celery_worker, working)
    point_broker(celery_worker, working)


def _wait_for(predicate, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _sweep_later():
    """The sweeper, run after the grace in which the writer itself may still be sending."""
    return outbox_send(now=timezone.now() + timedelta(minutes=5))


def test_a_run_requested_while_the_broker_is_down_is_queued_and_runs_when_it_is_back(wx, clerk, client, broker_down):
    txn(wx, "P1", "6.00")
    lines(wx, D, {"txn_no": "P1", "amount": "6.00"})
    client.force_login(clerk)

    response = client.post("/runs/request/", {"channel": wx.pk, "business_date": D.isoformat(), "stage": "TRANSACTION"})

    assert response.status_code == 302
    run = ReconciliationRun.objects.get(channel=wx, business_date=D)
    assert run.status == RunStatus.PENDING
    assert any("cannot be reached" in str(m) for m in get_messages(response.wsgi_request))
    page = client.get(f"/runs/{run.pk}/")
    assert "the job queue cannot be reached" in page.content.decode()
    job = OutboxJob.objects.get(name="reconciliation.run_execute")
    assert job.sent_at is None and job.attempts == 1 and job.last_error

    assert _sweep_later() == {"sent": 0, "waiting": 1, "forgotten": 0}  # still down: kept, nothing lost

    broker_down()  # the broker is back
    assert _sweep_later()["sent"] == 1
    assert _wait_for(lambda: ReconciliationRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED)
    assert ReconciliationRun.objects.get(pk=run.pk).counts["outcomes"]["MATCHED"]["count"] == 1


def test_api_answers_queued_when_the_broker_is_down(wx, clerk, broker_down):
    api = APIClient()
    api.force_authenticate(clerk)

    run = api.post("/api/runs/", {"channel": wx.code, "business_date": D.isoformat()}, format="json")
    upload = api.post(
        "/api/statements/",
        {"channel": wx.code, "file": io.BytesIO(wechat_bill(wechat_rows(2))), "kind": "BUSINESS"},
        format="multipart",
    )

    assert run.status_code == 202 and run.json()["waiting_for_broker"] is True
    assert upload.status_code == 201 and upload.json()["waiting_for_broker"] is True
    assert upload.json()["status"] == "RECEIVED"

    broker_down()
    assert _sweep_later()["sent"] == 2
    assert _wait_for(lambda: StatementFile.objects.get(pk=upload.json()["id"]).status == "PARSED")
    assert _wait_for(lambda: ReconciliationRun.objects.get(pk=run.json()["id"]).status == RunStatus.SUCCEEDED)


def test_an_upload_while_the_broker_is_down_shows_it_queued(wx, clerk, client, broker_down):
    client.force_login(clerk)
    upload = io.BytesIO(wechat_bill(wechat_rows(2)))
    upload.name = "bill.csv"

    response = client.post("/statements/upload/", {"channel": wx.pk, "kind": "BUSINESS", "files": [upload]})

    assert response.status_code == 200
    statement_file = StatementFile.objects.get()
    assert statement_file.status == StatementFile.Status.RECEIVED
    assert "the file is parsed when it is back" in response.content.decode()
    progress = client.get(f"/statements/{statement_file.pk}/progress/")
    assert "the file is parsed when it is back" in progress.content.decode()


@pytest.mark.django_db
def test_the_sweeper_sends_oldest_first_and_forgets_what_was_sent_long_ago(monkeypatch, django_capture_on_commit_callbacks):
    sent = []

    class Recorder:
        def __init__(self, name):
            self.name = name

        def apply_async(self, kwargs, **options):
            if kwargs.get("n") == 3:
                raise ConnectionRefusedError("broker down again")
            sent.append(kwargs["n"])

    from celery import current_app

    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    monkeypatch.setitem(current_app.tasks, "test.job", Recorder("test.job"))
    now = timezone.now()
    for n in (1, 2, 3, 4):
        OutboxJob.objects.create(name="test.job", kwargs={"n": n}, created_at=now - timedelta(minutes=10 - n))
    OutboxJob.objects.create(
        name="test.job", kwargs={"n": 0}, created_at=now - timedelta(days=30), sent_at=now - timedelta(days=30)
    )
    with django_capture_on_commit_callbacks(execute=True):
        fresh = job_enqueue("test.job", n=5)  # sent once its transaction commits

    result = outbox_send(now=now)

    assert sent == [5, 1, 2]  # the first the broker refuses stops the sweep; 4 waits behind it
    assert result == {"sent": 2, "waiting": 2, "forgotten": 1}
    assert OutboxJob.objects.get(pk=fresh.pk).sent_at is not None
    refused = OutboxJob.objects.get(kwargs__n=3)
    assert refused.sent_at is None and refused.attempts == 1 and "broker down again" in refused.last_error
