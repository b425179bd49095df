"""Starting and executing reconciliation runs.

A run is requested (PENDING) by the schedule, a parsed file, a clerk, the API or the command line;
the database lets at most one run per channel, date and stage wait or run. A worker executes it in
one transaction under an advisory lock, so a worker killed mid-run leaves nothing half-written and
the retried task (acks_late) produces the same result.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, datetime, timedelta

import psycopg
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.core.db import independent_connection, sql_list
from backoffice.core.db import sql_str as q
from reconciliation.models import (
    ACTIVE_RUN_STATUSES,
    Channel,
    Discrepancy,
    FeeModel,
    ReconciliationRun,
    RunStage,
    RunStatus,
    RunTrigger,
    WorkflowEvent,
)
from reconciliation.services.engine.books_check import books_day
from reconciliation.services.engine.fund import fund_day
from reconciliation.services.engine.stage1 import match_day
from reconciliation.services.jobs import Job, enqueue

log = logging.getLogger(__name__)

# Advisory-lock namespace of runs (ingest uses 7301, fetch 7302).
RUN_LOCK_NAMESPACE = 7303


class RunAlreadyActive(Exception):
    def __init__(self, run: ReconciliationRun):
        self.run = run
        super().__init__(
            f"a reconciliation of {run.channel.code} for {run.business_date} is already "
            f"{run.get_status_display().lower()} (run #{run.pk}); wait for it to finish"
        )


OLDEST_RUN_DAYS = 3660  # ten years: a statement older than what a clearing house keeps is a typo


def channel_first_date(channel: Channel) -> date | None:
    """The first business date the channel is known to have existed: when its earliest fee model took
    effect (a channel has no creation date of its own, and a fee model is what the engine needs to
    reconcile a day). None when it has no fee model yet: only the ten-year bound applies."""
    first = FeeModel.objects.filter(channel=channel).aggregate(first=Min("valid_from"))["first"]
    return timezone.localdate(first) if first else None


def run_date_problem(day: date, *, today: date, channel: Channel | None = None) -> str | None:
    """Why a run of this business date cannot be asked for (None: it can): after today, a date no
    statement can be of, or (given the channel) a date before the channel existed. The screens, the API
    and the command all ask here."""
    if day > today:
        return _("The business date %(day)s is in the future.") % {"day": day.isoformat()}
    if (today - day).days > OLDEST_RUN_DAYS:
        return _("The business date %(day)s is more than ten years ago.") % {"day": day.isoformat()}
    first = channel_first_date(channel) if channel is not None else None
    if first is not None and day < first:
        return _("%(day)s is before channel %(channel)s existed: its first fee model takes effect on %(first)s.") % {
            "day": day.isoformat(),
            "channel": channel.code,
            "first": first.isoformat(),
        }
    return None


def run_start(
    *,
    channel: Channel,
    business_date: date,
    trigger: str,
    acting_user=None,
    now: datetime,
    stage: str = RunStage.TRANSACTION,
    execute: bool = True,
) -> ReconciliationRun:
    """Request a run; a worker executes it once the request commits (``execute=False``: the caller runs it)."""
    try:
        with transaction.atomic():
            run = ReconciliationRun.objects.create(
                channel=channel,
                business_date=business_date,
                stage=stage,
                trigger=trigger,
                started_by=acting_user,
                created_at=now,
            )
    except IntegrityError:
        active = (
            ReconciliationRun.objects.select_related("channel")
            .filter(channel=channel, business_date=business_date, stage=stage, status__in=ACTIVE_RUN_STATUSES)
            .first()
        )
        if active is None or run_recover_if_stale(active, now=now):  # it finished in between: try once more
            return run_start(
                channel=channel,
                business_date=business_date,
                trigger=trigger,
                acting_user=acting_user,
                now=now,
                stage=stage,
                execute=execute,
            )
        raise RunAlreadyActive(active) from None
    if execute:
        enqueue(Job.RUN_EXECUTE, run_id=run.pk)
    return run


class _RunProgress:
    """Status, phase and heartbeat written on a second connection: visible while the run's transaction is
    open, and never waiting on the row lock that transaction takes at its very end. A thread renews the
    run's lease (its heartbeat) every RUN_HEARTBEAT_SECONDS while the run works."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.conn: psycopg.Connection | None = None
        self.enabled = True
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def __enter__(self) -> _RunProgress:
        self.conn = independent_connection()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        self.conn.close()

    def _execute(self, sql: str, params: list) -> psycopg.Cursor:
        with self._lock:
            return self.conn.execute(sql, params)

    def claim(self, now: datetime) -> int | None:
        """Take the run up (its attempt count returned), or None when it is not waiting or running."""
        row = self._execute(
            f"UPDATE {ReconciliationRun._meta.db_table} SET status = {q(RunStatus.RUNNING)}, started_at = %s, "
            f"heartbeat_at = now(), attempts = attempts + 1, phase = 'starting', error = '' "
            f"WHERE id = %s AND status IN ({sql_list(ACTIVE_RUN_STATUSES)}) RETURNING attempts",
            [now, self.run_id],
        ).fetchone()
        if row is None:
            return None
        self._beat = threading.Thread(target=self._heartbeat, name=f"run-{self.run_id}-heartbeat", daemon=True)
        self._beat.start()
        return row[0]

    def _heartbeat(self) -> None:
        while not self._stop.wait(settings.RUN_HEARTBEAT_SECONDS):
            try:
                self._execute(f"UPDATE {ReconciliationRun._meta.db_table} SET heartbeat_at = now() WHERE id = %s", [self.run_id])
            except psycopg.Error as exc:  # the run's own work reports a lost database; this only stops beating
                log.warning("run #%s: heartbeat not written: %s", self.run_id, exc)
                return

    def phase(self, phase: str) -> None:
        if not self.enabled:
            return
        self._execute(f"UPDATE {ReconciliationRun._meta.db_table} SET phase = %s WHERE id = %s", [phase, self.run_id])


def run_execute(*, run: ReconciliationRun, now: datetime) -> ReconciliationRun:
    """Execute a requested run. Safe to call twice or from two workers: one does the work. A run that
    loses its database connection midway ends FAILED with the reason (written on a new connection)."""
    try:
        return _run_execute(run=run, now=now)
    except DatabaseError as exc:
        # The stage's own errors are recorded on the run inside; what escapes is the database itself (the
        # connection dropped, the server restarted). The caller's transaction, if any, is lost with it.
        if connection.in_atomic_block:
            raise
        connection.close()  # Django opens a fresh one for what follows
        reason = _("The database connection was lost during the run (%(error)s); nothing of it was kept.") % {
            "error": f"{type(exc).__name__}: {exc}".strip()
        }
        with independent_connection() as side:
            side.execute(
                f"UPDATE {ReconciliationRun._meta.db_table} SET status = {q(RunStatus.FAILED)}, phase = '', "
                f"finished_at = now(), error = %s WHERE id = %s AND status = {q(RunStatus.RUNNING)}",
                [reason, run.pk],
            )
        log.warning("run #%s failed: %s", run.pk, reason)
        run.refresh_from_db()
        return run


def _run_execute(*, run: ReconciliationRun, now: datetime) -> ReconciliationRun:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [RUN_LOCK_NAMESPACE, run.pk])
            if not cursor.fetchone()[0]:
                run.refresh_from_db()
                return run  # another worker is executing it
        with _RunProgress(run.pk) as progress:
            attempts = progress.claim(now)
            if attempts is None:
                # The second connection cannot see the run when it was requested inside the caller's own,
                # still open transaction: claim it here instead, and do without live progress.
                claimed = ReconciliationRun.objects.filter(pk=run.pk, status__in=ACTIVE_RUN_STATUSES).update(
                    status=ReconciliationRun.Status.RUNNING, started_at=now
                )
                if not claimed:
                    run.refresh_from_db()
                    return run  # already finished
                progress.enabled = False
            if attempts is not None and attempts > settings.RUN_MAX_ATTEMPTS:
                # Taken up again after its worker stopped, too many times: something in it kills workers.
                finished = {
                    "status": ReconciliationRun.Status.FAILED,
                    "error": _("Given up: the run was started %(count)d times and its worker stopped each time.")
                    % {"count": attempts - 1},
                }
                ReconciliationRun.objects.filter(pk=run.pk).update(finished_at=timezone.now(), phase="", **finished)
                run.refresh_from_db()
                return run
            try:
                with transaction.atomic():
                    stage = {RunStage.FUND: fund_day, RunStage.BOOKS: books_day}.get(run.stage, match_day)
                    totals = stage(run=run, now=now, on_phase=progress.phase)
                    finished = {"status": ReconciliationRun.Status.SUCCEEDED, "counts": totals, "error": ""}
            except Exception as exc:  # recorded on the run for the clerk; the results rolled back
                finished = {"status": ReconciliationRun.Status.FAILED, "error": f"{type(exc).__name__}: {exc}"}
        ReconciliationRun.objects.filter(pk=run.pk).update(finished_at=timezone.now(), phase="", started_at=now, **finished)
    run.refresh_from_db()
    return run


def discrepancies_open_expired(*, today: date, now: datetime) -> int:
    """Carried-over items whose window ended without a run to re-match them (no file came): open them,
    each with its OPENED event (a guarded set update, as runs make)."""
    state, kind = Discrepancy.State, WorkflowEvent.Kind
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH moved AS (
                UPDATE {Discrepancy._meta.db_table} SET state = {q(state.OPEN)}, updated_at = %(now)s
                WHERE state = {q(state.CARRIED_OVER)} AND carry_until < %(today)s
                RETURNING id
            )
            INSERT INTO {WorkflowEvent._meta.db_table} (discrepancy_id, kind, at, source, reason, before, after)
            SELECT id, {q(kind.OPENED)}, %(now)s, 'schedule', '', jsonb_build_object('state', {q(state.CARRIED_OVER)}),
                   jsonb_build_object('state', {q(state.OPEN)}) FROM moved
            """,
            {"now": now, "today": today},
        )
        return cursor.rowcount


def _stale_run_ids(*, only: int | None = None) -> list[int]:
    """RUNNING runs whose lease ran out: no heartbeat for RUN_LEASE_SECONDS (the database's clock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {ReconciliationRun._meta.db_table} WHERE status = {q(RunStatus.RUNNING)} "
            "AND coalesce(heartbeat_at, started_at) < now() - make_interval(secs => %s) "
            "AND (%s::bigint IS NULL OR id = %s) ORDER BY id",
            [settings.RUN_LEASE_SECONDS, only, only],
        )
        return [row[0] for row in cursor.fetchall()]


def _take_run_lock(run_id: int) -> bool:
    """Take the run's advisory lock in the current transaction. Its holder, if any, is a process whose
    lease ran out (frozen, cut off): its database session is ended, which releases the lock and rolls
    its work back."""
    with connection.cursor() as cursor:
        for _attempt in range(20):
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [RUN_LOCK_NAMESPACE, run_id])
            if cursor.fetchone()[0]:
                return True
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = %s AND objid = %s AND objsubid = 2 AND pid <> pg_backend_pid()",
                [RUN_LOCK_NAMESPACE, run_id],
            )
            time.sleep(0.25)
    return False


def run_recover_if_stale(run: ReconciliationRun, *, now: datetime) -> bool:
    """Fail ``run`` if its worker's lease ran out (see ``runs_recover_stale``); whether it did."""
    return bool(_recover(_stale_run_ids(only=run.pk), now=now, rerun=False))


def runs_recover_stale(*, now: datetime) -> list[ReconciliationRun]:
    """Fail every run whose worker stopped (killed, frozen, cut off from the database) and request it
    again, so a channel-day is never blocked by a run nobody executes. A channel-day whose runs keep
    stopping their workers is retried RUN_MAX_ATTEMPTS times a day, then left failed for people."""
    return _recover(_stale_run_ids(), now=now, rerun=True)


def _recover(run_ids: list[int], *, now: datetime, rerun: bool) -> list[ReconciliationRun]:
    recovered = []
    for run_id in run_ids:
        with transaction.atomic():
            if not _take_run_lock(run_id):
                log.warning("run #%s: lease ran out but its lock could not be taken; trying again later", run_id)
                continue
            run = ReconciliationRun.objects.select_related("channel").filter(pk=run_id, status=RunStatus.RUNNING).first()
            if run is None:
                continue  # it finished meanwhile
            stopped = run.heartbeat_at or run.started_at
            run.status = RunStatus.FAILED
            run.phase = ""
            run.finished_at = now
            run.error = _(
                "The worker executing this run stopped (last heartbeat %(at)s); the run was abandoned and "
                "nothing of it was kept. It can be run again."
            ) % {"at": timezone.localtime(stopped).strftime("%Y-%m-%d %H:%M:%S")}
            run.save(update_fields=["status", "phase", "finished_at", "error"])
            log.warning("run #%s (%s) failed: its worker stopped", run.pk, run)
            recovered.append(run)
        if rerun:
            _rerun_recovered(run, now=now)
    return recovered


def _rerun_recovered(run: ReconciliationRun, *, now: datetime) -> None:
    retries = ReconciliationRun.objects.filter(
        channel_id=run.channel_id,
        business_date=run.business_date,
        stage=run.stage,
        trigger=RunTrigger.RECOVERY,
        created_at__gte=now - timedelta(days=1),
    ).count()
    if retries >= settings.RUN_MAX_ATTEMPTS:
        log.error("run #%s: %s retries today already; left failed for people to look at", run.pk, retries)
        return
    try:
        run_start(channel=run.channel, business_date=run.business_date, stage=run.stage, trigger=RunTrigger.RECOVERY, now=now)
    except RunAlreadyActive:
        pass  # someone asked for it again already
