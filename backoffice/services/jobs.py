"""Background jobs handed to Celery by their stable task names, through a transactional outbox.

Services enqueue work through here, so they never import the tasks that call them: tasks import
services, never the other way round. Each app registers its tasks when Django starts (its AppConfig
imports its tasks module), so a name is known in every process that enqueues.

Every job is first a row of ``OutboxJob`` written in the caller's transaction, then sent to the broker
once that transaction commits. If the broker cannot be reached the row stays unsent and
``outbox_send`` (run by the sweeper every minute) sends it later: work that was saved is never lost
with its message, and the person who asked for it is told it is queued (``job_waiting``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from backoffice.models import OutboxJob

log = logging.getLogger(__name__)

# An unsent job younger than this may still be being sent by the process that wrote it.
OUTBOX_GRACE = timedelta(seconds=30)
# Sent jobs are kept this long, to answer "was it handed over, and when" after an incident.
OUTBOX_KEEP = timedelta(days=7)
# At most this many waiting jobs are sent per sweep (the next sweep takes the rest).
OUTBOX_BATCH = 500


def job_enqueue(name: str, **kwargs) -> OutboxJob:
    """Keep the task ``name`` with keyword arguments in the outbox and send it once the current
    transaction commits (at once when none is open), so a worker never looks for rows that are not
    committed yet. With CELERY_TASK_ALWAYS_EAGER (tests) it runs in this process at that moment.
    A broker that cannot be reached leaves the job waiting in the outbox, never an error to the caller."""
    job = OutboxJob.objects.create(name=name, kwargs=kwargs)
    transaction.on_commit(lambda: _send(job))
    return job


def job_waiting(name: str, **kwargs) -> bool:
    """Whether a job with these arguments is kept in the outbox, not yet handed to the broker."""
    return OutboxJob.objects.filter(name=name, kwargs__contains=kwargs, sent_at__isnull=True).exists()


def _send(job: OutboxJob) -> bool:
    from celery import current_app

    try:
        current_app.tasks[job.name].apply_async(kwargs=job.kwargs, retry_policy=_retry_policy())
    except Exception as exc:  # the broker is down or refused: the sweeper sends the job later
        if current_app.conf.task_always_eager:
            raise  # in eager mode this is the task's own failure, not the broker's
        log.warning("job %s #%s kept in the outbox, the broker did not take it: %s", job.name, job.pk, exc)
        OutboxJob.objects.filter(pk=job.pk).update(attempts=job.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000])
        return False
    job.sent_at = timezone.now()
    OutboxJob.objects.filter(pk=job.pk).update(sent_at=job.sent_at, attempts=job.attempts + 1, last_error="")
    return True


def _retry_policy() -> dict:
    """Try the broker briefly: a person is waiting for the answer, and the outbox keeps the job anyway."""
    return {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}


def outbox_send(*, now: datetime) -> dict:
    """Send the jobs still waiting in the outbox (oldest first), stopping at the first the broker does
    not take; forget jobs sent long ago. Two sweepers never send the same row (rows are locked)."""
    sent = 0
    with transaction.atomic():
        waiting = list(
            OutboxJob.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True, created_at__lt=now - OUTBOX_GRACE)
            .order_by("created_at", "pk")[:OUTBOX_BATCH]
        )
        for job in waiting:
            if not _send(job):
                break
            sent += 1
    forgotten, _ = OutboxJob.objects.filter(sent_at__lt=now - OUTBOX_KEEP).delete()
    return {"sent": sent, "waiting": len(waiting) - sent, "forgotten": forgotten}
