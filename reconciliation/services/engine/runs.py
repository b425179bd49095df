"""Starting and executing reconciliation runs.

A run is requested (PENDING) by the schedule, a parsed file, a clerk, the API or the command line;
the database lets at most one run per channel, date and stage wait or run. A worker executes it in
one transaction under an advisory lock, so a worker killed mid-run leaves nothing half-written and
the retried task (acks_late) produces the same result.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.core.db import independent_connection, sql_list
from backoffice.core.db import sql_str as q
from reconciliation.models import (
    ACTIVE_RUN_STATUSES,
    Channel,
    Discrepancy,
    ReconciliationRun,
    RunStage,
    RunStatus,
    WorkflowEvent,
)
from reconciliation.services.engine.books_check import books_day
from reconciliation.services.engine.fund import fund_day
from reconciliation.services.engine.stage1 import match_day
from reconciliation.services.jobs import Job, enqueue

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


def run_date_problem(day: date, *, today: date) -> str | None:
    """Why a run of this business date cannot be asked for (None: it can): after today, or a date no
    statement can be of."""
    if day > today:
        return _("The business date %(day)s is in the future.") % {"day": day.isoformat()}
    if (today - day).days > OLDEST_RUN_DAYS:
        return _("The business date %(day)s is more than ten years ago.") % {"day": day.isoformat()}
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
        if active is None:  # it finished in between: try once more
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
    """Status and phase written on a second connection: visible while the run's transaction is open,
    and never waiting on the row lock that transaction takes at its very end."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.conn: psycopg.Connection | None = None
        self.enabled = True

    def __enter__(self) -> _RunProgress:
        self.conn = independent_connection()
        return self

    def __exit__(self, *exc_info) -> None:
        self.conn.close()

    def claim(self, now: datetime) -> bool:
        cursor = self.conn.execute(
            f"UPDATE {ReconciliationRun._meta.db_table} SET status = {q(RunStatus.RUNNING)}, started_at = %s, "
            f"phase = 'starting', error = '' WHERE id = %s AND status IN ({sql_list(ACTIVE_RUN_STATUSES)})",
            [now, self.run_id],
        )
        return cursor.rowcount == 1

    def phase(self, phase: str) -> None:
        if not self.enabled:
            return
        self.conn.execute(f"UPDATE {ReconciliationRun._meta.db_table} SET phase = %s WHERE id = %s", [phase, self.run_id])


def run_execute(*, run: ReconciliationRun, now: datetime) -> ReconciliationRun:
    """Execute a requested run. Safe to call twice or from two workers: one does the work."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [RUN_LOCK_NAMESPACE, run.pk])
            if not cursor.fetchone()[0]:
                run.refresh_from_db()
                return run  # another worker is executing it
        with _RunProgress(run.pk) as progress:
            if not progress.claim(now):
                # The second connection cannot see the run when it was requested inside the caller's own,
                # still open transaction: claim it here instead, and do without live progress.
                claimed = ReconciliationRun.objects.filter(pk=run.pk, status__in=ACTIVE_RUN_STATUSES).update(
                    status=ReconciliationRun.Status.RUNNING, started_at=now
                )
                if not claimed:
                    run.refresh_from_db()
                    return run  # already finished
                progress.enabled = False
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
