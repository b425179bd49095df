"""A real Celery worker in its own process, on the test database and the real Redis broker: for the tests
that kill it, load it, or need several of its threads at once (the in-process ``celery_worker`` fixture
runs one task at a time and cannot be killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from helpers import point_broker

REDIS = os.environ.get("TEST_REDIS_URL")


class WorkerProcess:
    """``celery worker`` with ``pool`` and ``concurrency``, its output in ``tmp/worker.log``."""

    def __init__(self, tmp: Path, *, pool: str = "solo", concurrency: int = 1, env: dict | None = None):
        db = settings.DATABASES["default"]
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "CELERY_BROKER_URL": REDIS,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "BACKOFFICE_VAR_DIR": str(tmp),
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.pool, self.concurrency = pool, concurrency
        self.log = tmp / "worker.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        celery = Path(sys.executable).with_name("celery")
        command = [str(celery), "-A", "backoffice", "worker", "-P", self.pool, "-c", str(self.concurrency)]
        command += ["--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "INFO"]
        self.process = subprocess.Popen(
            command, env=self.env, cwd=settings.BASE_DIR, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


@contextmanager
def worker_process(tmp: Path, **options):
    """A started ``WorkerProcess``; meanwhile this process publishes to the real broker (not eagerly), on an
    emptied queue. Everything is stopped, emptied and restored after."""
    from backoffice.celery import app

    saved = {"eager": app.conf.task_always_eager, "url": app.conf.broker_url, "env": os.environ.get("CELERY_BROKER_URL")}
    app.conf.task_always_eager = False
    point_broker(app, REDIS)
    purge(app)
    process = WorkerProcess(tmp, **options)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        purge(app)
        app.conf.task_always_eager = saved["eager"]
        point_broker(app, saved["url"])
        if saved["env"] is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved["env"]


def purge(app) -> None:
    """An empty queue: messages left by another test (or unacknowledged by a killed worker) go."""
    with app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()


def wait_for(predicate, *, what: str, seconds: float = 60, worker: WorkerProcess | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tail = f"; the worker's log ends:\n{worker.log_tail()}" if worker else ""
    raise AssertionError(f"timed out after {seconds} s waiting for {what}{tail}")
