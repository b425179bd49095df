"""Statement files whose parse was lost: a worker killed mid-parse, or a message the broker dropped.

A file is parsed under an advisory lock held by the parsing worker's database session, so a file shown
as received or parsing whose lock nobody holds, for longer than a job can wait in the queue, has nobody
working on it: it is handed to a worker again. Parsing twice is safe (statement_parse keeps a parsed
file as it is), and a file that keeps stopping its worker is given up by the parse's own attempt count.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from backoffice.models import OutboxJob
from reconciliation.models import StatementFile
from reconciliation.services.intake.statements import PARSE_LOCK_NAMESPACE
from reconciliation.services.jobs import Job, enqueue

log = logging.getLogger(__name__)


def statement_files_requeue_stale(*, now: datetime) -> list[int]:
    """Hand back to a worker every file received or parsing for longer than FILE_STALE_SECONDS that no
    worker holds and that was not handed over within that time either; the ids handed back."""
    since = now - timedelta(seconds=settings.FILE_STALE_SECONDS)
    status = StatementFile.Status
    candidates = StatementFile.objects.filter(
        Q(status=status.RECEIVED, received_at__lt=since) | Q(status=status.PARSING, parse_started_at__lt=since)
    ).values_list("pk", flat=True)
    # Waiting in the outbox for the broker, or handed over lately and still queued: left to that job.
    handed = set(
        OutboxJob.objects.filter(name=str(Job.STATEMENT_PARSE))
        .filter(Q(sent_at__isnull=True) | Q(sent_at__gte=since))
        .values_list("kwargs__statement_file_id", flat=True)
    )
    requeued = []
    for file_id in candidates:
        if file_id in handed:
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [PARSE_LOCK_NAMESPACE, file_id])
            if not cursor.fetchone()[0]:
                continue  # a worker is parsing it
            log.warning("statement file #%s: nobody is parsing it; handed to a worker again", file_id)
            enqueue(Job.STATEMENT_PARSE, statement_file_id=file_id)
            requeued.append(file_id)
    return requeued
