"""The reconciliation app's background jobs: their stable Celery task names (reconciliation/tasks.py
registers a task under each; schedules in the database refer to them by name) and how services
enqueue them."""

from __future__ import annotations

from enum import StrEnum

from backoffice.services.jobs import job_enqueue, job_waiting


class Job(StrEnum):
    STATEMENT_PARSE = "reconciliation.statement_parse"
    STATEMENTS_FETCH = "reconciliation.statements_fetch"
    RUN_START = "reconciliation.run_start"
    RUN_EXECUTE = "reconciliation.run_execute"
    DISCREPANCIES_OPEN_EXPIRED = "reconciliation.discrepancies_open_expired"
    RECOVER_STALE = "reconciliation.recover_stale"
    DISCREPANCY_TALLY_COMPACT = "reconciliation.discrepancy_tally_compact"
    PARTITIONS_MAINTAIN = "reconciliation.partitions_maintain"


def enqueue(job: Job, **kwargs) -> None:
    """Hand ``job`` to a worker once the caller's transaction commits (kept in the outbox meanwhile)."""
    job_enqueue(str(job), **kwargs)


def queued_not_sent(job: Job, **kwargs) -> bool:
    """Whether ``job`` is kept in the outbox because the broker could not take it yet."""
    return job_waiting(str(job), **kwargs)
