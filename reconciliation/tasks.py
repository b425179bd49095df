"""Celery tasks: thin wrappers that load by id and call one service (STYLE.md §4)."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from reconciliation.models import Channel, ReconciliationRun, RunStage, StatementFile, StatementSource
from reconciliation.services.engine.runs import (
    RunAlreadyActive,
    discrepancies_open_expired,
    run_execute,
    run_start,
    runs_recover_stale,
)
from reconciliation.services.intake.fetch import FetchFailed, statements_fetch
from reconciliation.services.intake.recovery import statement_files_requeue_stale
from reconciliation.services.intake.statements import StatementRefused, statement_parse
from reconciliation.services.jobs import Job
from reconciliation.services.partitions import partitions_maintain
from reconciliation.services.tally import discrepancy_tally_compact


@shared_task(name=Job.STATEMENT_PARSE, acks_late=True)
def statement_parse_task(*, statement_file_id: int) -> str:
    statement_file = StatementFile.objects.select_related("channel", "statement_format", "bank_account").get(pk=statement_file_id)
    try:
        statement_file = statement_parse(statement_file=statement_file, now=timezone.now())
    except StatementRefused as exc:
        # A refused file is an outcome, not a task failure: it is recorded on the file for the clerk.
        return f"refused: {exc}"
    return statement_file.status


@shared_task(name=Job.STATEMENTS_FETCH, acks_late=True)
def statements_fetch_task(*, source_id: int, statement_date: str | None = None) -> str:
    source = StatementSource.objects.select_related("channel").get(pk=source_id)
    now = timezone.now()
    # Scheduled runs fetch yesterday's statements (in the product's time zone) unless told a date.
    day = date.fromisoformat(statement_date) if statement_date else timezone.localdate(now) - timedelta(days=1)
    try:
        return statements_fetch(source=source, statement_date=day, now=now).summary()
    except FetchFailed as exc:
        # Recorded on the source (last_result) for the admin; an outcome, not a crashed task.
        return f"failed: {exc}"


@shared_task(name=Job.RUN_EXECUTE, acks_late=True)
def run_execute_task(*, run_id: int) -> str:
    run = ReconciliationRun.objects.select_related("channel").get(pk=run_id)
    return run_execute(run=run, now=timezone.now()).status


@shared_task(name=Job.RUN_START, bind=True, acks_late=True, max_retries=40)
def run_start_task(
    self, *, channel_id: int, trigger: str, business_date: str | None = None, stage: str = RunStage.TRANSACTION
) -> str:
    """Start a run for a channel (the schedule: yesterday; a parsed file: its date), of stage 1 or, from its
    own schedule, stage 2. If one is already active, try again shortly: its result may not include what has
    just arrived."""
    channel = Channel.objects.get(pk=channel_id)
    now = timezone.now()
    day = date.fromisoformat(business_date) if business_date else timezone.localdate(now) - timedelta(days=1)
    try:
        run = run_start(channel=channel, business_date=day, trigger=trigger, now=now, stage=stage)
    except RunAlreadyActive as exc:
        raise self.retry(countdown=30, exc=exc) from None
    return f"run #{run.pk} requested"


@shared_task(name=Job.DISCREPANCIES_OPEN_EXPIRED, acks_late=True)
def discrepancies_open_expired_task() -> int:
    now = timezone.now()
    return discrepancies_open_expired(today=timezone.localdate(now), now=now)


@shared_task(name=Job.RECOVER_STALE, acks_late=True)
def recover_stale_task() -> str:
    now = timezone.now()
    runs = runs_recover_stale(now=now)
    files = statement_files_requeue_stale(now=now)
    return f"runs failed and requested again: {len(runs)}; files handed back: {len(files)}"


@shared_task(name=Job.DISCREPANCY_TALLY_COMPACT, acks_late=True)
def discrepancy_tally_compact_task() -> str:
    before, after = discrepancy_tally_compact()
    return f"discrepancy tally: {before} rows folded into {after}"


@shared_task(name=Job.PARTITIONS_MAINTAIN, acks_late=True)
def partitions_maintain_task() -> str:
    return partitions_maintain(today=timezone.localdate()).summary()
