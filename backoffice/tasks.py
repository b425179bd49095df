"""The back office's own background jobs: thin wrappers over core services (STYLE.md §4)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from backoffice.services.jobs import outbox_send

OUTBOX_SEND = "backoffice.outbox_send"


@shared_task(name=OUTBOX_SEND, acks_late=True)
def outbox_send_task() -> dict:
    return outbox_send(now=timezone.now())
