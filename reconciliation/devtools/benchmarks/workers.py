"""The worker-scaling benchmark behind ``manage.py bench_workers``: does a pool of Celery worker processes take
several channel-days at once, and how much faster than one process?

K channel-days (one day on each of K benchmark channels, ``BENCHW01`` …) of M statement lines each are
generated once (not timed): a WeChat Pay trade bill per channel from the intake benchmark's generator
(``bench_rows``: a busy merchant's day, 2 % refunds) and our own records of the same transactions, with one
collection in ``DIFFERENCE_EVERY`` carrying a known difference (the channel's alone, ours alone, another
amount, a status we do not know as paid). Then, for each pool size P (1 and 2 by default), from the same empty
start:

1. our records are loaded (PostgreSQL COPY, not timed) and one ``celery worker -c P`` is started on the
   given broker (Redis or RabbitMQ), consuming the intake and reconciliation queues under names of this run
   alone, and waited for;
2. the K bills are received as an upload receives them, in one transaction whose commit hands their K parse
   jobs to the broker: the clock starts there;
3. the worker parses each file (intake queue); each parsed file starts its date's run, which the worker
   executes (reconciliation queue); the clock stops at the last run's end (its ``finished_at``);
4. every file must hold exactly its generated lines and sums, every run must have SUCCEEDED and found exactly
   the injected differences, and the results must be the same for every pool size.

The worker is stopped and its queues deleted after each size. Everything written on the benchmark channels
(records, files and their stored raw files, lines, runs, discrepancies, the books' vouchers of their days) is
removed before each size and at the end, unless kept. The channels are active only while measured: a parsed
file starts its run only on an active channel.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django_celery_results.models import TaskResult

from backoffice.models import OutboxJob
from reconciliation.devtools.benchmarks.common import (
    BenchmarkFailed,
    StageReport,
    channel_data_remove,
    checkpoint,
    machine_notes,
)
from reconciliation.devtools.benchmarks.intake import FEE_RATE, GeneratedBill, bench_rows, intake_verify
from reconciliation.devtools.simulation import TXN_COLUMNS
from reconciliation.models import (
    Bank,
    BankAccount,
    BusinessType,
    Channel,
    Discrepancy,
    DiscrepancyType,
    FeeModel,
    PlatformTransaction,
    ReconciliationRun,
    RunStatus,
    StatementFile,
    StatementKind,
    TransactionStatus,
)
from reconciliation.parsers.base import LineType
from reconciliation.parsers.writers import write_wechat_trade
from reconciliation.services.intake.statements import statement_receive

WORKERS_BENCH_CODE = "BENCHW"
# The benchmark's day lies far in the past, so no schedule or carry-over of a real date meets it.
BENCH_DAY = date(2002, 1, 7)
FEES_FROM = datetime(2000, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
# One collection in this many carries a difference, in turn of these kinds.
DIFFERENCE_EVERY = 1000
INJECTED_TYPES = (
    DiscrepancyType.BANK_ONLY,
    DiscrepancyType.PLATFORM_ONLY,
    DiscrepancyType.AMOUNT_MISMATCH,
    DiscrepancyType.STATUS_MISMATCH,
)
WORKER_READY_SECONDS = 60
MB = 1 << 20


# --- the channels, and removing what was written on them ----------------------------------------------


def workers_channels_get_or_create(count: int) -> list[Channel]:
    """``count`` WeChat-like channels matched by our order number, 0.6 % on collections and refunds; created
    once and kept, inactive (``BENCHW01`` …), on a bank of their own with an account (its currency's shared
    ledger accounts come with it)."""
    bank, _ = Bank.objects.get_or_create(code=WORKERS_BENCH_CODE, defaults={"name": "Worker benchmark bank (synthetic data)"})
    account, _ = BankAccount.objects.get_or_create(
        bank=bank,
        account_no=f"{WORKERS_BENCH_CODE}-RESERVE",
        defaults={"kind": BankAccount.Kind.RESERVE, "account_name": "Worker benchmark reserve account"},
    )
    channels = []
    for number in range(1, count + 1):
        code = f"{WORKERS_BENCH_CODE}{number:02d}"
        channel, created = Channel.objects.get_or_create(
            code=code,
            defaults={
                "name": f"Worker benchmark {number} (synthetic data)",
                "bank": bank,
                "kind": Channel.Kind.WECHAT,
                "currency": "CNY",
                "match_key": Channel.MatchKey.TXN_NO,
                "settlement_account": account,
                "is_active": False,
            },
        )
        if (channel.kind, channel.match_key, channel.currency) != (Channel.Kind.WECHAT, Channel.MatchKey.TXN_NO, "CNY"):
            raise BenchmarkFailed(
                f"channel {code} exists but is not a WeChat CNY channel matched by our order number; the benchmark "
                f"needs channels of its own: rename that channel's code"
            )
        if created:
            for business_type in (BusinessType.COLLECTION, BusinessType.REFUND):
                FeeModel.objects.create(channel=channel, business_type=business_type, rate=FEE_RATE, valid_from=FEES_FROM)
        channels.append(channel)
    return channels


def _channels_activate(channels: list[Channel], active: bool) -> None:
    Channel.objects.filter(pk__in=[channel.pk for channel in channels]).update(is_active=active)


def workers_bench_data_remove(*, channels: list[Channel]) -> int:
    """Remove everything the benchmark wrote on ``channels``; returns how many records went: the jobs sent
    for them leave the outbox, then each channel's data goes as every benchmark's does
    (``channel_data_remove``: records, files and lines, runs, discrepancies, the vouchers the runs posted)."""
    if not channels:
        return 0
    # The jobs that were sent for them (the outbox keeps sent jobs a week).
    OutboxJob.objects.filter(
        Q(kwargs__statement_file_id__in=list(StatementFile.objects.filter(channel__in=channels).values_list("pk", flat=True)))
        | Q(kwargs__run_id__in=list(ReconciliationRun.objects.filter(channel__in=channels).values_list("pk", flat=True)))
        | Q(kwargs__channel_id__in=[channel.pk for channel in channels])
    ).delete()
    return sum(channel_data_remove(channel=channel) for channel in channels)


# --- the channel-days ---------------------------------------------------------------------------------


@dataclass
class ChannelDay:
    """One channel's day as generated: its bill, our records (COPY text) and the differences injected."""

    channel: Channel
    bill: GeneratedBill
    records_path: Path
    records: int = 0
    # (discrepancy type, match key) of every injected difference: what the run must find, exactly.
    injected: set[tuple[str, str]] = field(default_factory=set)


def _record(
    row, *, channel: Channel, day: date, now: str, txn_no: str | None = None, amount=None, status=TransactionStatus.SUCCESS
) -> str:
    """One of our transactions for the channel's line ``row``, as a COPY line of TXN_COLUMNS."""
    business_type = BusinessType.REFUND if row.line_type == LineType.REFUND else BusinessType.COLLECTION
    at = row.occurred_at.isoformat()
    values = (
        txn_no or row.txn_no,
        channel.pk,
        row.channel_txn_no,
        business_type,
        "",
        amount if amount is not None else row.amount,
        "CNY",
        row.fee,
        status,
        at,
        at if status in (TransactionStatus.SUCCESS, TransactionStatus.FAILED) else None,
        day.isoformat(),
        "",
        "",
        now,
        now,
    )
    return "\t".join(r"\N" if value is None else str(value) for value in values)


def channel_day_generate(*, channel: Channel, lines: int, day: date, token: int, folder: Path) -> ChannelDay:
    """Write the channel's bill of ``lines`` lines (the intake benchmark's generator) and, while it is being
    written, our records of the same transactions with the injected differences (streamed: memory stays flat)."""
    tz = ZoneInfo(settings.TIME_ZONE)
    generated = ChannelDay(
        channel=channel,
        bill=GeneratedBill(path=folder / f"{channel.code}_{day:%Y%m%d}.csv", statement_date=day),
        records_path=folder / f"{channel.code}_{day:%Y%m%d}.records",
    )
    now = datetime.now(tz).isoformat()
    collections = 0

    def records_of(rows, out) -> Iterator:
        """Pass the bill's rows on to the writer, writing our records of them to ``out`` on the way."""
        nonlocal collections
        for row in rows:
            kind = None
            if row.line_type == LineType.COLLECTION:
                collections += 1
                if collections % DIFFERENCE_EVERY == 0:
                    kind = INJECTED_TYPES[(collections // DIFFERENCE_EVERY) % len(INJECTED_TYPES)]
            if kind == DiscrepancyType.BANK_ONLY:
                pass  # we never recorded it
            elif kind == DiscrepancyType.AMOUNT_MISMATCH:
                out.write(_record(row, channel=channel, day=day, now=now, amount=row.amount + Decimal("1.00")) + "\n")
            elif kind == DiscrepancyType.STATUS_MISMATCH:
                out.write(_record(row, channel=channel, day=day, now=now, status=TransactionStatus.UNKNOWN) + "\n")
            else:
                out.write(_record(row, channel=channel, day=day, now=now) + "\n")
            if kind == DiscrepancyType.PLATFORM_ONLY:
                # A payment of ours the channel does not list (beside the listed one, which matches).
                extra = f"{row.txn_no}X"
                out.write(
                    _record(
                        row._replace(channel_txn_no=f"{row.channel_txn_no}X"), channel=channel, day=day, now=now, txn_no=extra
                    )
                    + "\n"
                )
                generated.records += 1
                generated.injected.add((str(kind), extra))
            elif kind:
                generated.injected.add((str(kind), row.txn_no))
            if kind != DiscrepancyType.BANK_ONLY:
                generated.records += 1
            yield row

    rows = bench_rows(lines=lines, statement_date=day, tz=tz, token=token, bill=generated.bill)
    with generated.bill.path.open("wb") as bill_out, generated.records_path.open("w", encoding="utf-8") as records_out:
        write_wechat_trade(records_of(rows, records_out), bill_out, tz=tz)
    digest = hashlib.sha256()
    with generated.bill.path.open("rb") as data:
        while chunk := data.read(MB):
            digest.update(chunk)
    generated.bill.sha256, generated.bill.size = digest.hexdigest(), generated.bill.path.stat().st_size
    return generated


def records_load(days: list[ChannelDay]) -> None:
    """COPY our records of every channel-day, then refresh the planner's statistics (as a nightly ANALYZE
    would have), so every pool size starts from the same tables."""
    sql = f"COPY {PlatformTransaction._meta.db_table} ({', '.join(TXN_COLUMNS)}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor:
        for generated in days:
            with cursor.cursor.copy(sql) as copy, generated.records_path.open("rb") as data:
                while chunk := data.read(MB):
                    copy.write(chunk)
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute(f"VACUUM ANALYZE {PlatformTransaction._meta.db_table}")


# --- the broker and the worker ---------------------------------------------------------------------------


@contextmanager
def publishing_to(broker: str, *, queue_prefix: str):
    """Meanwhile this process publishes to ``broker`` on queues named with ``queue_prefix`` (this run's alone);
    yields their names. Afterwards the queues are deleted and this process publishes as before."""
    from kombu import pools

    from backoffice.celery import app, job_queues_name

    saved = {"url": app.conf.broker_url, "eager": app.conf.task_always_eager, "env": os.environ.get("CELERY_BROKER_URL")}

    def point(url: str) -> None:
        # Celery reads CELERY_BROKER_URL before its configuration, so both are set; pools made with the
        # previous address are forgotten.
        os.environ["CELERY_BROKER_URL"] = url
        app.conf.broker_url = url
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    point(broker)
    app.conf.task_always_eager = False
    names = job_queues_name(app, prefix=queue_prefix)
    try:
        yield names
    finally:
        try:
            with app.connection_for_write() as conn:
                for queue in app.amqp.queues.values():
                    bound = queue(conn.default_channel)
                    bound.declare()
                    bound.delete()
                    bound.exchange.delete()
        finally:
            job_queues_name(app, prefix=settings.JOB_QUEUE_PREFIX)
            app.conf.task_always_eager = saved["eager"]
            point(saved["url"])
            if saved["env"] is None:
                os.environ.pop("CELERY_BROKER_URL", None)


class WorkerPool:
    """One ``celery worker -P prefork -c <processes>`` consuming ``queues``, its output in ``log``."""

    def __init__(self, *, broker: str, queue_prefix: str, queues: list[str], processes: int, log: Path):
        self.node = f"bench-{uuid.uuid4().hex[:8]}@%h"
        # The name it answers by, and stores its results under.
        self.destination = self.node.replace("%h", socket.gethostname())
        self.log, self.processes = log, processes
        self.command = [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "backoffice",
            "worker",
            "-P",
            "prefork",
            "-c",
            str(processes),
            "-Q",
            ",".join(queues),
            "-n",
            self.node,
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "INFO",
        ]
        self.env = {
            **os.environ,
            "CELERY_BROKER_URL": broker,
            "JOB_QUEUE_PREFIX": queue_prefix,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "LOG_LEVEL": "WARNING",
            # The worker reads the files this process stored, in the database this process is connected to.
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        }
        if os.environ.get("DATABASE_URL"):
            # The same server and login, the database by its current name (under tests, the test database).
            url = urlsplit(os.environ["DATABASE_URL"])
            self.env["DATABASE_URL"] = urlunsplit(url._replace(path="/" + quote(connection.settings_dict["NAME"])))
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        from backoffice.celery import app

        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + WORKER_READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkFailed(f"the worker stopped at start (exit code {self.process.returncode}):\n{self.log_tail()}")
            if app.control.ping(destination=[self.destination], timeout=0.5):
                return
        raise BenchmarkFailed(f"the worker did not answer within {WORKER_READY_SECONDS} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # warm shutdown: the pool's processes end with it
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


# --- one pool size --------------------------------------------------------------------------------------


def _results(days: list[ChannelDay], *, pool: WorkerPool) -> dict[str, str]:
    """Verify every channel-day; returns a digest of each one's findings (to compare between pool sizes)."""
    digests = {}
    for generated in days:
        channel = generated.channel
        statement_file = StatementFile.objects.filter(channel=channel, sha256=generated.bill.sha256).first()
        if statement_file is None:
            raise BenchmarkFailed(f"{channel.code}: the bill was not received")
        intake_verify(bill=generated.bill, file_id=statement_file.pk)
        runs = list(ReconciliationRun.objects.filter(channel=channel, business_date=generated.bill.statement_date).order_by("id"))
        if len(runs) != 1 or runs[0].status != RunStatus.SUCCEEDED:
            states = [(run.pk, run.status, run.error[:300]) for run in runs]
            raise BenchmarkFailed(
                f"{channel.code}: expected one SUCCEEDED run, found {states}; the worker's log ends:\n{pool.log_tail()}"
            )
        findings = sorted(
            Discrepancy.objects.filter(channel=channel).values_list("type", "match_key", "state", "effect").order_by()
        )
        found = {(kind, key) for kind, key, _state, _effect in findings}
        missing, extra = generated.injected - found, found - generated.injected
        if missing or extra:
            raise BenchmarkFailed(
                f"{channel.code}: run #{runs[0].pk} found {len(found):,} differences against "
                f"{len(generated.injected):,} injected: {len(missing):,} missed (e.g. {sorted(missing)[:3]}), "
                f"{len(extra):,} not injected (e.g. {sorted(extra)[:3]})"
            )
        digests[channel.code] = hashlib.sha256(json.dumps([list(map(str, f)) for f in findings]).encode()).hexdigest()
    return digests


def pool_measure(
    *, days: list[ChannelDay], processes: int, broker: str, workdir: Path, report: StageReport, poll_seconds: float = 0.2
) -> dict:
    """Load our records, start a pool of ``processes`` on fresh queues, hand in every bill at once, wait for
    every run, verify. Returns the figures of this pool size."""
    channels = [generated.channel for generated in days]
    records_load(days)
    checkpoint()
    prefix = f"bench-{uuid.uuid4().hex[:10]}-"
    pool = None
    try:
        with publishing_to(broker, queue_prefix=prefix) as queues:
            intake, reconciliation, _housekeeping = queues
            pool = WorkerPool(
                broker=broker,
                queue_prefix=prefix,
                queues=[intake, reconciliation],
                processes=processes,
                log=workdir / f"worker-{processes}.log",
            )
            _channels_activate(channels, True)
            try:
                pool.start()
                report(f"  worker with {processes} process(es) ready; handing in {len(days)} bills…")
                bills, enqueued_at, started = _bills_hand_in(days)
                runs = ReconciliationRun.objects.filter(channel__in=channels)
                deadline = started + settings.JOB_TIME_LIMIT_SECONDS * 2
                while True:
                    done = runs.filter(status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED]).count()
                    refused = StatementFile.objects.filter(pk__in=[f.pk for f in bills], status=StatementFile.Status.FAILED)
                    if done == len(days) or refused.exists() or runs.filter(status=RunStatus.FAILED).exists():
                        break  # finished, or failed somewhere: the verification says what
                    if time.perf_counter() > deadline or pool.process.poll() is not None:
                        raise BenchmarkFailed(
                            f"the runs did not finish ({done} of {len(days)}); the worker's log ends:\n{pool.log_tail()}"
                        )
                    time.sleep(poll_seconds)
                observed = time.perf_counter() - started
            finally:
                pool.stop()
                _channels_activate(channels, False)
        digests = _results(days, pool=pool)
        seconds = (runs.aggregate(last=Max("finished_at"))["last"] - enqueued_at).total_seconds()
        jobs = pool_jobs(pool)
    finally:
        if pool is not None:  # the results the worker stored are the benchmark's too
            TaskResult.objects.filter(worker=pool.destination).delete()
    busy = sum(job["sum"] for job in jobs.values())
    return {
        "processes": processes,
        "seconds": round(seconds, 3),
        "observed_seconds": round(observed, 3),
        "lines_per_s": round(sum(d.bill.lines for d in days) / seconds),
        "jobs": jobs,
        # Time the jobs were working for, over the wall-clock time: about how many were working at once.
        "busy_over_wall": round(busy / seconds, 2),
        "digests": digests,
    }


def _bills_hand_in(days: list[ChannelDay]) -> tuple[list[StatementFile], datetime, float]:
    """Receive every bill as an upload is received, in one transaction whose commit hands their parse jobs to
    the broker. Returns the files and the moment of the commit (aware, and for a monotonic clock)."""
    bills = []
    with transaction.atomic():
        for generated in days:
            with generated.bill.path.open("rb") as content:
                bills.append(
                    statement_receive(
                        channel=generated.channel,
                        content=content,
                        original_name=generated.bill.path.name,
                        source=StatementFile.Source.COMMAND,
                        acting_user=None,
                        now=_now(),
                        kind=StatementKind.BUSINESS,
                        statement_date=generated.bill.statement_date,
                        parse_later=True,
                    )
                )
        # The parse jobs are handed to the broker when this commits: the clock starts here.
        enqueued_at, started = _now(), time.perf_counter()
    return bills, enqueued_at, started


def pool_jobs(pool: WorkerPool) -> dict[str, dict]:
    """Per job name, how many the pool ran and for how long (sum and longest, seconds), from the results
    the worker stored (started and done times)."""
    results = TaskResult.objects.filter(worker=pool.destination)
    jobs: dict[str, dict] = {}
    for name, started, done in results.values_list("task_name", "date_started", "date_done").order_by("id"):
        if started is None or done is None:
            continue
        job = jobs.setdefault(name.rsplit(".", 1)[-1], {"count": 0, "sum": 0.0, "max": 0.0})
        job["count"] += 1
        job["sum"] += (done - started).total_seconds()
        job["max"] = max(job["max"], (done - started).total_seconds())
    return {name: {**job, "sum": round(job["sum"], 3), "max": round(job["max"], 3)} for name, job in sorted(jobs.items())}


def _now() -> datetime:
    from django.utils import timezone

    return timezone.now()


# --- the whole run ----------------------------------------------------------------------------------------


def workers_benchmark_run(
    *, channel_days: int, lines: int, processes: list[int], repeat: int = 1, broker: str, keep: bool, report: StageReport
) -> dict:
    """Generate K channel-days, measure each pool size on them (``repeat`` times, the sizes taken in turn so that
    a change in the machine's load falls on all of them), compare, clean up. Every figure as plain JSON."""
    channels = workers_channels_get_or_create(channel_days)
    removed = workers_bench_data_remove(channels=workers_channels_existing())
    if removed:
        report(f"removed {removed:,} rows left by an earlier kept run")
    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as folder:
        workdir = Path(folder)
        report(f"generating {channel_days} channel-days of {lines:,} lines and our records of them (not timed)…")
        started = time.perf_counter()
        base = secrets.randbelow(100_000 - channel_days)
        days = [
            channel_day_generate(channel=channel, lines=lines, day=BENCH_DAY, token=base + k, folder=workdir)
            for k, channel in enumerate(channels)
        ]
        generate_seconds = time.perf_counter() - started
        report(
            f"  {sum(d.bill.size for d in days) / MB:,.1f} MB of bills, {sum(d.records for d in days):,} records, "
            f"{sum(len(d.injected) for d in days):,} injected differences in {generate_seconds:.1f} s"
        )
        try:
            for index, size in enumerate(processes * repeat):
                if index:
                    workers_bench_data_remove(channels=channels)  # every round starts from the same tables
                report(f"{size} worker process(es): enqueue → every run SUCCEEDED (timed)…")
                load_before = os.getloadavg()[0]
                measured = pool_measure(days=days, processes=size, broker=broker, workdir=workdir, report=report)
                # The machine's load (1-minute average) around the round: other work shares its cores.
                measured["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
                rounds.append(measured)
                report(f"  {measured['seconds']:.2f} s, verified: every line, every run, exactly the injected differences")
        finally:
            if not keep:
                workers_bench_data_remove(channels=channels)
                report("removed the benchmark's records, files, lines, runs, discrepancies and vouchers")
    for r in rounds:
        if r["digests"] != rounds[0]["digests"]:
            raise BenchmarkFailed(
                f"the results with {r['processes']} process(es) differ from those with {rounds[0]['processes']}"
            )
    by_size = {size: statistics.median(r["seconds"] for r in rounds if r["processes"] == size) for size in processes}
    reference = by_size[processes[0]]
    for r in rounds:
        r["speedup"] = round(reference / r["seconds"], 2)
    return {
        "channel_days": channel_days,
        "lines_per_day": lines,
        "lines": sum(d.bill.lines for d in days),
        "records": sum(d.records for d in days),
        "injected": sum(len(d.injected) for d in days),
        "broker": broker.split("://", 1)[0],
        "generate_seconds": round(generate_seconds, 1),
        "rounds": [{k: v for k, v in r.items() if k != "digests"} for r in rounds],
        # Per pool size: the median of its rounds, and the speed-up over the first size's median.
        "summary": [
            {
                "processes": size,
                "rounds": sum(1 for r in rounds if r["processes"] == size),
                "median_seconds": round(by_size[size], 3),
                "lines_per_s": round(sum(d.bill.lines for d in days) / by_size[size]),
                "speedup": round(reference / by_size[size], 2),
            }
            for size in processes
        ],
        "same_results": True,
        "verified": True,
        "kept": keep,
        "machine": machine_notes(),
    }


def workers_channels_existing() -> list[Channel]:
    """Every benchmark channel there is (a kept run may have used more than this one asks for)."""
    return list(Channel.objects.filter(code__regex=rf"^{WORKERS_BENCH_CODE}[0-9]{{2}}$").order_by("code"))
