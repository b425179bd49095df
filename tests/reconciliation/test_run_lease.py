"""A run or file never stays stuck: leases with a heartbeat, stale runs failed and requested again, a cap
on attempts, and files nobody parses handed back to a worker.

The runs here are committed (transactional_db): a lease is about other database sessions, so the test
plays the stopped worker with a session of its own (``psycopg``) that it ends or keeps.
"""

import io
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from helpers import D, lines, txn

from backoffice.core.db import independent_connection
from reconciliation.models import ReconciliationRun, RunStatus, RunTrigger, StatementFile
from reconciliation.services.engine import runs as runs_service
from reconciliation.services.engine.runs import (
    RUN_LOCK_NAMESPACE,
    RunAlreadyActive,
    run_execute,
    run_start,
    runs_recover_stale,
)
from reconciliation.services.intake.recovery import statement_files_requeue_stale
from reconciliation.services.intake.statements import PARSE_LOCK_NAMESPACE

pytestmark = pytest.mark.django_db(transaction=True)


def _running(channel, *, heartbeat_age: int, attempts: int = 1, day=D) -> ReconciliationRun:
    """A run a worker took up, whose last heartbeat is ``heartbeat_age`` seconds old (database clock)."""
    run = run_start(channel=channel, business_date=day, trigger=RunTrigger.CLERK, now=timezone.now(), execute=False)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ReconciliationRun._meta.db_table} SET status = 'RUNNING', attempts = %s, "
            "started_at = now() - make_interval(secs => %s), heartbeat_at = now() - make_interval(secs => %s) "
            "WHERE id = %s",
            [attempts, heartbeat_age + 5, heartbeat_age, run.pk],
        )
    run.refresh_from_db()
    return run


@pytest.fixture
def lease(settings):
    settings.RUN_LEASE_SECONDS = 60
    settings.RUN_MAX_ATTEMPTS = 3
    return settings


def test_a_run_whose_worker_stopped_is_failed_and_requested_again(wx, lease):
    txn(wx, "P1", "6.00")
    lines(wx, D, {"txn_no": "P1", "amount": "6.00"})
    stuck = _running(wx, heartbeat_age=600)

    recovered = runs_recover_stale(now=timezone.now())

    stuck.refresh_from_db()
    assert [run.pk for run in recovered] == [stuck.pk]
    assert stuck.status == RunStatus.FAILED
    assert "stopped" in stuck.error and stuck.finished_at is not None and stuck.phase == ""
    retry = ReconciliationRun.objects.exclude(pk=stuck.pk).get(channel=wx, business_date=D)
    # Tests run jobs eagerly: the retry was executed as soon as it was requested.
    assert (retry.trigger, retry.status) == (RunTrigger.RECOVERY, RunStatus.SUCCEEDED)
    assert retry.counts["outcomes"]["MATCHED"]["count"] == 1


def test_a_run_with_a_fresh_heartbeat_is_left_alone(wx, lease):
    alive = _running(wx, heartbeat_age=5)
    assert runs_recover_stale(now=timezone.now()) == []
    alive.refresh_from_db()
    assert alive.status == RunStatus.RUNNING


def test_a_frozen_worker_holding_the_lock_loses_its_session_when_its_lease_ran_out(wx, lease):
    frozen = _running(wx, heartbeat_age=600)
    worker = independent_connection()
    try:
        worker.execute("BEGIN")
        worker.execute("SELECT pg_advisory_xact_lock(%s, %s)", [RUN_LOCK_NAMESPACE, frozen.pk])

        runs_recover_stale(now=timezone.now())

        frozen.refresh_from_db()
        assert frozen.status == RunStatus.FAILED
        with pytest.raises(psycopg.OperationalError):  # its session was ended, its work rolled back
            worker.execute("SELECT 1")
    finally:
        worker.close()


def test_asking_again_for_a_day_blocked_by_a_stopped_run_recovers_it(wx, lease):
    stuck = _running(wx, heartbeat_age=600)
    run = run_start(channel=wx, business_date=D, trigger=RunTrigger.CLERK, now=timezone.now(), execute=False)
    stuck.refresh_from_db()
    assert stuck.status == RunStatus.FAILED
    assert run.pk != stuck.pk and run.status == RunStatus.PENDING


def test_asking_again_while_a_live_run_works_is_still_refused(wx, lease):
    alive = _running(wx, heartbeat_age=1)
    with pytest.raises(RunAlreadyActive) as refused:
        run_start(channel=wx, business_date=D, trigger=RunTrigger.CLERK, now=timezone.now(), execute=False)
    assert refused.value.run.pk == alive.pk


def test_a_run_that_keeps_stopping_its_worker_is_given_up(wx, lease):
    crashing = _running(wx, heartbeat_age=0, attempts=3)  # a fourth delivery of its task
    run_execute(run=crashing, now=timezone.now())
    crashing.refresh_from_db()
    assert crashing.status == RunStatus.FAILED
    assert crashing.attempts == 4
    assert "3 times" in crashing.error


def test_recovery_retries_a_channel_day_a_bounded_number_of_times(wx, lease, monkeypatch):
    # Every retry stops its worker too: it is left running with an old heartbeat.
    def execute_and_stop(*, run, now):
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=RunStatus.RUNNING, started_at=now - timedelta(hours=1), heartbeat_at=now - timedelta(hours=1)
        )
        return run

    monkeypatch.setattr("reconciliation.tasks.run_execute", execute_and_stop)
    _running(wx, heartbeat_age=600)
    for _sweep in range(6):
        runs_recover_stale(now=timezone.now())
    runs = ReconciliationRun.objects.filter(channel=wx, business_date=D)
    assert runs.filter(trigger=RunTrigger.RECOVERY).count() == lease.RUN_MAX_ATTEMPTS
    assert not runs.filter(status__in=["PENDING", "RUNNING"]).exists()  # the last one is left failed for people


def test_the_heartbeat_is_renewed_while_a_run_works(wx, lease, monkeypatch):
    lease.RUN_HEARTBEAT_SECONDS = 0.05
    beats = []

    def slow_stage(*, run, now, on_phase):
        observer = independent_connection()
        try:
            for _ in range(4):
                time.sleep(0.1)
                beats.append(
                    observer.execute(
                        "SELECT heartbeat_at FROM reconciliation_reconciliationrun WHERE id = %s", [run.pk]
                    ).fetchone()[0]
                )
        finally:
            observer.close()
        return {}

    monkeypatch.setattr(runs_service, "match_day", slow_stage)
    run = run_start(channel=wx, business_date=D, trigger=RunTrigger.CLERK, now=timezone.now(), execute=False)
    run_execute(run=run, now=timezone.now())
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 1
    assert beats[0] is not None and beats[-1] > beats[0]


def test_a_file_nobody_parses_is_handed_back_to_a_worker(wx, settings):
    from helpers import wechat_bill, wechat_rows

    from reconciliation.services.intake.statements import statement_receive

    settings.FILE_STALE_SECONDS = 60
    received = statement_receive(
        channel=wx,
        content=io.BytesIO(wechat_bill(wechat_rows(2))),
        original_name="bill.csv",
        source=StatementFile.Source.UPLOAD,
        acting_user=None,
        now=timezone.now() - timedelta(hours=1),
    )
    assert received.status == StatementFile.Status.RECEIVED  # parse_later=False: its caller died before parsing

    # A worker still holding the parse is left alone.
    worker = independent_connection()
    try:
        worker.execute("BEGIN")
        worker.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PARSE_LOCK_NAMESPACE, received.pk])
        assert statement_files_requeue_stale(now=timezone.now()) == []
    finally:
        worker.close()

    assert statement_files_requeue_stale(now=timezone.now()) == [received.pk]
    received.refresh_from_db()
    assert received.status == StatementFile.Status.PARSED  # the job ran (eagerly, in tests)
    # Handed over lately: the next sweep does not hand it over again.
    StatementFile.objects.filter(pk=received.pk).update(
        status=StatementFile.Status.PARSING, parse_started_at=timezone.now() - timedelta(hours=1)
    )
    assert statement_files_requeue_stale(now=timezone.now()) == []
