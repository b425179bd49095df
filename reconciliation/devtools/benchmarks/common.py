"""What every benchmark shares: its failure, stage reports, memory and machine notes, a quiet broker."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable

from django.db import DatabaseError, connection, transaction

StageReport = Callable[[str], None]


class BenchmarkFailed(Exception):
    """The benchmark could not run, or what it measured did not arrive intact in the database."""


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tasks_go_nowhere() -> None:
    """Publish this process's Celery tasks to an in-process memory broker that nobody consumes.

    A parsed business file requests its date's reconciliation run when the parse commits. Publishing
    that request is part of the intake and stays timed; running it is not: no worker (and no eager
    execution, as in the tests) may reconcile the benchmark's synthetic data while it is measured or
    after it is removed. Only this forked child is changed; the environment variables are set because
    Celery prefers them to its settings.
    """
    from celery import current_app

    os.environ["CELERY_BROKER_URL"] = os.environ["CELERY_BROKER_WRITE_URL"] = "memory://localhost/"
    current_app.conf.task_always_eager = False


def checkpoint() -> bool:
    """Write out the dirty pages a phase leaves behind, so that the next timed phase does not pay for
    them. A checkpoint that a phase's own WAL triggers stays in its time. Needs a superuser or the
    pg_checkpoint role; without it the phases start as they find the server (reported)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # a savepoint inside a transaction
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        return False
    return True


def machine_notes() -> dict:
    cpu_model = ram_mb = None
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu_model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), None)
        with open("/proc/meminfo") as meminfo:
            ram_mb = next((int(line.split()[1]) // 1024 for line in meminfo if line.startswith("MemTotal:")), None)
    except OSError:
        pass  # not Linux: the figures stand without these notes
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
    database = connection.settings_dict
    host = database.get("HOST") or "local socket"
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "ram_mb": ram_mb,
        "postgresql_version": server_version,
        "python_version": platform.python_version(),
        "database": f"{host}:{database.get('PORT') or 5432}/{database.get('NAME')}",
    }
