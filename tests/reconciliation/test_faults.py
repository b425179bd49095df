"""Bad days, played for real: a Celery worker process on the real Redis broker is SIGKILLed at seeded
points of a run and of an import, a task is delivered twice, the database drops a run's connection.
Afterwards nothing is stuck or duplicated and the results are those of a clean run.

The seeded points are locks, not timings: the test holds a lock on the table the worker needs next,
waits until the worker's session waits on it (pg_stat_activity), and kills the worker there.
"""

from __future__ import annotations

import io
import time
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone
from helpers import D, lines, txn, wechat_bill, wechat_rows
from workers import REDIS, wait_for, worker_process

from backoffice.core.db import independent_connection
from backoffice.services.jobs import outbox_send
from reconciliation.models import (
    Discrepancy,
    PlatformTransaction,
    ReconciliationRun,
    RunStatus,
    RunTrigger,
    StatementFile,
    StatementLine,
)
from reconciliation.services.engine.runs import run_execute, run_start, runs_recover_stale
from reconciliation.services.intake.recovery import statement_files_requeue_stale
from reconciliation.services.intake.statements import statement_receive
from reconciliation.services.jobs import Job, enqueue

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not REDIS, reason="needs a real Redis broker (TEST_REDIS_URL)"),
]


@pytest.fixture
def worker(tmp_path, settings):
    settings.RUN_LEASE_SECONDS = 2
    settings.FILE_STALE_SECONDS = 1
    with worker_process(tmp_path, env={"RUN_HEARTBEAT_SECONDS": "1"}) as process:
        yield process


def _wait_for(predicate, seconds: float = 60, what: str = "") -> None:
    wait_for(predicate, what=what or str(predicate), seconds=seconds)


class SeededPoint:
    """A lock on ``table`` held by the test: the worker blocks on it at its first read (ACCESS
    EXCLUSIVE) or its first write (SHARE) of that table."""

    def __init__(self, table: str, mode: str):
        self.conn = independent_connection()
        self.conn.execute("BEGIN")
        self.conn.execute(f"LOCK TABLE {table} IN {mode} MODE")

    def wait_until_reached(self) -> None:
        def someone_waits():
            # pg_stat_activity is read once per transaction: a fresh snapshot each time.
            self.conn.execute("SELECT pg_stat_clear_snapshot()")
            row = self.conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ).fetchone()
            return row[0] > 0

        _wait_for(someone_waits, what="the worker to reach the seeded point")

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


def _day(channel):
    """200 of our collections; the channel's bill misses 10, has 5 of its own, differs on 5 amounts."""
    for n in range(200):
        txn(channel, f"T{n:04d}", "10.00")
    rows = [{"txn_no": f"T{n:04d}", "amount": "10.50" if n < 15 else "10.00"} for n in range(10, 200)]
    rows += [{"txn_no": f"B{n:04d}", "amount": "3.00"} for n in range(5)]
    lines(channel, D, *rows)


def _results(channel) -> list[tuple]:
    live = Discrepancy.objects.filter(channel=channel).exclude(state="RESOLVED")
    return sorted((d.type, d.match_key, d.state, str(d.effect)) for d in live)


def _nothing_stuck(channel) -> None:
    assert not ReconciliationRun.objects.filter(channel=channel, status__in=["PENDING", "RUNNING"]).exists()
    keys = Counter(Discrepancy.objects.filter(channel=channel).exclude(state="RESOLVED").values_list("type", "match_key"))
    assert max(keys.values()) == 1, "a discrepancy is live twice"


def _request(channel, trigger=RunTrigger.CLERK) -> ReconciliationRun:
    return run_start(channel=channel, business_date=D, trigger=trigger, now=timezone.now())


@pytest.mark.parametrize(
    ("table", "mode"),
    [(PlatformTransaction._meta.db_table, "ACCESS EXCLUSIVE"), (Discrepancy._meta.db_table, "SHARE")],
    ids=["killed-while-reading", "killed-while-writing"],
)
def test_a_run_whose_worker_is_killed_is_recovered_with_the_results_of_a_clean_run(wx, worker, table, mode):
    _day(wx)
    clean = run_execute(
        run=run_start(channel=wx, business_date=D, trigger=RunTrigger.CLERK, now=timezone.now(), execute=False),
        now=timezone.now(),
    )
    assert clean.status == RunStatus.SUCCEEDED
    expected = _results(wx)
    assert len(expected) == 20  # 10 of ours missing, 5 of theirs, 5 amounts

    seeded = SeededPoint(table, mode)
    killed = _request(wx)
    try:
        seeded.wait_until_reached()
        worker.kill()
    finally:
        seeded.release()
    killed.refresh_from_db()
    assert killed.status == RunStatus.RUNNING  # what a killed process leaves behind

    worker.start()
    _wait_for(lambda: runs_recover_stale(now=timezone.now()), seconds=30, what="the lease to run out")
    killed.refresh_from_db()
    assert killed.status == RunStatus.FAILED and "stopped" in killed.error
    retry = ReconciliationRun.objects.get(channel=wx, trigger=RunTrigger.RECOVERY)
    _wait_for(lambda: ReconciliationRun.objects.get(pk=retry.pk).status == RunStatus.SUCCEEDED, what="the retry")

    assert _results(wx) == expected
    _nothing_stuck(wx)


def test_an_import_whose_worker_is_killed_is_parsed_once_after_restart(wx, worker):
    content = wechat_bill(wechat_rows(300))
    seeded = SeededPoint(StatementLine._meta.db_table, "SHARE")
    try:
        received = statement_receive(
            channel=wx,
            content=io.BytesIO(content),
            original_name="bill.csv",
            source=StatementFile.Source.UPLOAD,
            acting_user=None,
            now=timezone.now(),
            parse_later=True,
        )
        seeded.wait_until_reached()
        worker.kill()
    finally:
        seeded.release()
    received.refresh_from_db()
    assert received.status == StatementFile.Status.PARSING
    assert not StatementLine.objects.filter(file=received).exists()  # nothing half-written

    worker.start()
    _wait_for(lambda: statement_files_requeue_stale(now=timezone.now()), seconds=30, what="the file to be handed back")
    _wait_for(lambda: StatementFile.objects.get(pk=received.pk).status == StatementFile.Status.PARSED, what="the parse")
    parsed = StatementLine.objects.filter(file=received)
    assert parsed.count() == 300
    assert sorted(parsed.values_list("txn_no", flat=True)) == [f"P{n:08d}" for n in range(1, 301)]


def test_the_same_task_delivered_twice_does_the_work_once(wx, worker):
    _day(wx)
    run = run_start(channel=wx, business_date=D, trigger=RunTrigger.CLERK, now=timezone.now(), execute=False)
    enqueue(Job.RUN_EXECUTE, run_id=run.pk)
    enqueue(Job.RUN_EXECUTE, run_id=run.pk)  # a broker redelivering, or the sweeper sending again
    _wait_for(lambda: ReconciliationRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED, what="the run")
    time.sleep(2)  # let the second delivery arrive and be handled
    run.refresh_from_db()
    assert run.attempts == 1
    assert len(_results(wx)) == 20
    _nothing_stuck(wx)
    assert outbox_send(now=timezone.now())["waiting"] == 0


def test_a_run_whose_database_connection_drops_ends_failed_and_runs_again_cleanly(wx, worker):
    _day(wx)
    seeded = SeededPoint(Discrepancy._meta.db_table, "SHARE")
    run = _request(wx)
    try:
        seeded.wait_until_reached()
        seeded.conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
    finally:
        seeded.release()
    _wait_for(lambda: ReconciliationRun.objects.get(pk=run.pk).status == RunStatus.FAILED, what="the run to fail")
    run.refresh_from_db()
    assert "OperationalError" in run.error  # the reason, in the worker's language
    assert not Discrepancy.objects.filter(channel=wx).exists()  # nothing of it kept

    again = _request(wx)
    _wait_for(lambda: ReconciliationRun.objects.get(pk=again.pk).status == RunStatus.SUCCEEDED, what="the re-run")
    assert len(_results(wx)) == 20
    _nothing_stuck(wx)
    assert connection.is_usable()
