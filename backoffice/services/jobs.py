"""Background jobs handed to Celery by their stable task names.

Services enqueue work through here, so they never import the tasks that call them: tasks import
services, never the other way round. Each app registers its tasks when Django starts (its AppConfig
imports its tasks module), so a name is known in every process that enqueues.
"""

from __future__ import annotations

from django.db import transaction


def job_enqueue(name: str, **kwargs) -> None:
    """Send the task ``name`` with keyword arguments once the current transaction commits (at once when
    none is open), so a worker never looks for rows that are not committed yet. With
    CELERY_TASK_ALWAYS_EAGER (tests) it runs in this process at that moment."""

    def send() -> None:
        from celery import current_app

        current_app.tasks[name].delay(**kwargs)

    transaction.on_commit(send)
