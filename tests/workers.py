"""Real Celery workers in their own processes, on the test database and a real broker (Redis, or RabbitMQ):
for the tests that kill a worker, load it, run several at once, or need several of its threads at once (the
in-process ``celery_worker`` fixture runs one task at a time and cannot be killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from helpers import point_broker

REDIS = os.environ.get("TEST_REDIS_URL")
# RabbitMQ: CI exports TEST_AMQP_URL (and its tests then fail when the broker cannot be reached); without it
# the tests try the local default and skip when nothing answers there.
AMQP_DEFAULT = "amqp://guest:guest@127.0.0.1:5672//"
AMQP = os.environ.get("TEST_AMQP_URL") or AMQP_DEFAULT


class WorkerProcess:
    """``celery worker`` with ``pool`` and ``concurrency`` on ``broker`` (Redis by default), its output in
    ``tmp/<name>.log``. ``queue_prefix`` names its queues apart (``JOB_QUEUE_PREFIX``); ``queues`` limits it
    to those (``-Q``, names as given), else it consumes all three."""

    def __init__(
        self,
        tmp: Path,
        *,
        pool: str = "solo",
        concurrency: int = 1,
        env: dict | None = None,
        broker: str | None = None,
        queue_prefix: str = "",
        queues: list[str] | None = None,
        name: str = "worker",
    ):
        db = settings.DATABASES["default"]
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "CELERY_BROKER_URL": broker or REDIS,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "JOB_QUEUE_PREFIX": queue_prefix,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "BACKOFFICE_VAR_DIR": str(tmp),
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.pool, self.concurrency, self.queues = pool, concurrency, queues
        # A node name of its own: two workers of one test (or of two test runs) on one broker never share one.
        self.node = f"{name}-{uuid.uuid4().hex[:8]}@%h"
        self.log = tmp / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        celery = Path(sys.executable).with_name("celery")
        command = [str(celery), "-A", "backoffice", "worker", "-P", self.pool, "-c", str(self.concurrency), "-n", self.node]
        command += ["--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "INFO"]
        if self.queues:
            command += ["-Q", ",".join(self.queues)]
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

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


@contextmanager
def publishing_to(url: str, *, queue_prefix: str = ""):
    """Meanwhile this process publishes to the real broker at ``url`` (not eagerly), its queues named with
    ``queue_prefix``, emptied before and after; yields the queue names. A prefix of its own (unique per test)
    keeps test runs that share one broker (a RabbitMQ vhost) apart: its queues and exchanges are deleted after.
    Everything is restored after."""
    from backoffice.celery import app, job_queues_name

    saved = {"eager": app.conf.task_always_eager, "url": app.conf.broker_url, "env": os.environ.get("CELERY_BROKER_URL")}
    app.conf.task_always_eager = False
    point_broker(app, url)
    queues = job_queues_name(app, prefix=queue_prefix)
    purge(app)
    try:
        yield queues
    finally:
        purge(app, delete=bool(queue_prefix))
        job_queues_name(app, prefix=settings.JOB_QUEUE_PREFIX)
        app.conf.task_always_eager = saved["eager"]
        point_broker(app, saved["url"])
        if saved["env"] is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved["env"]


@contextmanager
def worker_process(tmp: Path, *, broker: str | None = None, queue_prefix: str = "", **options):
    """A started ``WorkerProcess`` on ``broker`` (Redis by default); meanwhile this process publishes there
    too (see ``publishing_to``). Everything is stopped, emptied and restored after."""
    broker = broker or REDIS
    with publishing_to(broker, queue_prefix=queue_prefix):
        process = WorkerProcess(tmp, broker=broker, queue_prefix=queue_prefix, **options)
        process.start()
        try:
            yield process
        finally:
            process.stop()


def purge(app, *, delete: bool = False) -> None:
    """Empty queues: messages left by another test (or unacknowledged by a killed worker) go. Redis: the
    test's own database is emptied. RabbitMQ: this process's queues are emptied (``delete``: deleted, with
    their exchanges)."""
    with app.connection_for_write() as conn:
        if conn.transport.driver_type == "redis":
            conn.default_channel.client.flushdb()
            return
        for queue in app.amqp.queues.values():
            bound = queue(conn.default_channel)
            bound.declare()
            if delete:
                bound.delete()
                bound.exchange.delete()
            else:
                bound.purge()


def amqp_unreachable(url: str) -> str | None:
    """Why the RabbitMQ broker at ``url`` cannot be used (None: it answers)."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # any failure to connect is the answer
        return f"{type(exc).__name__}: {exc}"
    return None


def wait_for(predicate, *, what: str, seconds: float = 60, worker: WorkerProcess | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tail = f"; the worker's log ends:\n{worker.log_tail()}" if worker else ""
    raise AssertionError(f"timed out after {seconds} s waiting for {what}{tail}")
