"""The discrepancy queue benchmark behind ``manage.py bench_queue``.

Seeds a queue of N discrepancies (100,000 by default) on five dedicated channels (``BENCHQ1`` …
``BENCHQ5``, with their own bank), over the last 20 business dates: for each channel and date a parsed
statement file, our transactions and the channel's lines for them (``simulate_day``, written with COPY),
one succeeded run, and then the discrepancies in one ``INSERT … SELECT`` over those rows, spread over
every stage-1 type, every state (half of them resolved) and both directions, a third of the unresolved
ones assigned to one of three clerks. Then it starts gunicorn (two sync workers, production settings:
DEBUG off, persistent database connections) on a free port of 127.0.0.1 and times N requests per
scenario from a small threaded client logged in as a clerk: the queue as it opens, filtered by channel,
state and type, sorted by amount, a far page, the dashboard and a run's page.

The channels are inactive except while the requests are timed (switched on with a plain UPDATE, so no
schedule is created for them), and everything the benchmark wrote is removed at the end unless kept.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPRedirectHandler, Request, build_opener

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.db.models import Count
from django.urls import reverse

from backoffice.core.db import sql_str
from backoffice.core.roles import CLERK
from reconciliation.devtools.benchmarks.common import BenchmarkFailed, StageReport, machine_notes, tasks_go_nowhere
from reconciliation.devtools.benchmarks.engine import engine_bench_data_remove
from reconciliation.devtools.simulation import simulate_day
from reconciliation.models import (
    Bank,
    Channel,
    Discrepancy,
    DiscrepancyState,
    DiscrepancyType,
    EffectDirection,
    PlatformTransaction,
    ReconciliationRun,
    RunStatus,
    RunTrigger,
    StatementLine,
    TransactionStatus,
)

QUEUE_BENCH_CODES = tuple(f"BENCHQ{n}" for n in range(1, 6))
QUEUE_BENCH_DAYS = 20
CLERKS = tuple(f"bench-queue-{n}" for n in range(1, 4))  # the first one is the client's login
TARGET_P95_MS = 300
# The types a stage-1 run writes for single items (the double-payment risk needs a pair of ours).
TYPES = (
    DiscrepancyType.BANK_ONLY,
    DiscrepancyType.PLATFORM_ONLY,
    DiscrepancyType.STATUS_MISMATCH,
    DiscrepancyType.AMOUNT_MISMATCH,
    DiscrepancyType.FEE_MISMATCH,
    DiscrepancyType.DUPLICATE,
)
# Ten slots of states: half resolved (a queue that has been worked for a while), the rest in every state.
STATES = (*(DiscrepancyState.RESOLVED,) * 5, DiscrepancyState.OPEN, DiscrepancyState.OPEN) + (
    DiscrepancyState.CARRIED_OVER,
    DiscrepancyState.PROPOSED,
    DiscrepancyState.APPROVED,
)
CLOSED_AS = (Discrepancy.ClosedAs.REMATCHED, Discrepancy.ClosedAs.ADJUSTED, Discrepancy.ClosedAs.WRITTEN_OFF)
SERVER_START_SECONDS = 60


@dataclass
class Scenario:
    name: str
    path: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    response_bytes: int = 0

    def figures(self) -> dict:
        ordered = sorted(self.latencies_ms)

        def pct(p: float) -> float:
            # nearest rank: the smallest value with at least p % of the requests at or below it
            return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))] if ordered else 0.0

        return {
            "name": self.name,
            "path": self.path,
            "requests": len(ordered),
            "errors": len(self.errors),
            "first_error": self.errors[0] if self.errors else "",
            "p50_ms": pct(50),
            "p95_ms": pct(95),
            "p99_ms": pct(99),
            "max_ms": ordered[-1] if ordered else 0.0,
            "mean_ms": sum(ordered) / len(ordered) if ordered else 0.0,
            "requests_per_s": len(ordered) / self.seconds if self.seconds else 0.0,
            "page_kb": self.response_bytes / 1024,
        }


# --- the data ----------------------------------------------------------------------------------------


def queue_channels_get_or_create() -> list[Channel]:
    """The dedicated channels: WeChat-like CNY channels matched by our order number (what ``simulate_day``
    writes), created inactive so no schedule starts runs on them."""
    bank, _ = Bank.objects.get_or_create(code="BENCHQ", defaults={"name": "Queue benchmark bank (synthetic data)"})
    channels = []
    for code in QUEUE_BENCH_CODES:
        channel, _ = Channel.objects.get_or_create(
            code=code,
            defaults={
                "name": f"Queue benchmark {code[-1]} (synthetic data)",
                "bank": bank,
                "kind": Channel.Kind.WECHAT,
                "currency": "CNY",
                "match_key": Channel.MatchKey.TXN_NO,
                "is_active": False,
            },
        )
        if (channel.match_key, channel.currency, channel.bank_id) != (Channel.MatchKey.TXN_NO, "CNY", bank.pk):
            raise BenchmarkFailed(f"channel {code} exists but is not the benchmark's: rename that channel's code")
        channels.append(channel)
    return channels


def queue_clerks_get_or_create() -> list:
    users = []
    for username in CLERKS:
        user, created = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True})
        if created:
            user.set_unusable_password()  # the client logs in with a session made here, never a password
            user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=CLERK))
        users.append(user)
    return users


def queue_bench_data_remove(*, channels: list[Channel]) -> int:
    return sum(engine_bench_data_remove(channel=channel) for channel in channels)


def _discrepancies_sql(*, channel_ids: list[int], clerk_ids: list[int], limit: int) -> tuple[str, dict]:
    """One INSERT … SELECT: a discrepancy per (our transaction, the channel's line) pair of the benchmark's
    days, its type, state and assignee picked by its row number so every combination occurs."""
    types = "ARRAY[" + ", ".join(sql_str(t) for t in TYPES) + "]"
    states = "ARRAY[" + ", ".join(sql_str(s) for s in STATES) + "]"
    closed_as = "ARRAY[" + ", ".join(sql_str(c) for c in CLOSED_AS) + "]"
    overage, shortage = sql_str(EffectDirection.OVERAGE), sql_str(EffectDirection.SHORTAGE)
    # Every state, type and status as a literal made from its enum (never typed into the SQL text).
    L = SimpleNamespace(**{name: sql_str(member) for name, member in {
        "BANK_ONLY": DiscrepancyType.BANK_ONLY,
        "PLATFORM_ONLY": DiscrepancyType.PLATFORM_ONLY,
        "STATUS_MISMATCH": DiscrepancyType.STATUS_MISMATCH,
        "AMOUNT_MISMATCH": DiscrepancyType.AMOUNT_MISMATCH,
        "FEE_MISMATCH": DiscrepancyType.FEE_MISMATCH,
        "DUPLICATE": DiscrepancyType.DUPLICATE,
        "CARRIED_OVER": DiscrepancyState.CARRIED_OVER,
        "RESOLVED": DiscrepancyState.RESOLVED,
        "PROPOSED": DiscrepancyState.PROPOSED,
        "APPROVED": DiscrepancyState.APPROVED,
        "UNKNOWN": TransactionStatus.UNKNOWN,
        "SUCCESS": TransactionStatus.SUCCESS,
    }.items()})  # fmt: skip
    sql = f"""
        WITH pairs AS (
            SELECT p.id AS txn_id, l.id AS line_id, p.channel_id, p.business_date, p.txn_no, p.amount, p.fee,
                   row_number() OVER (ORDER BY p.business_date, p.channel_id, p.id) AS g
            FROM {PlatformTransaction._meta.db_table} p
            JOIN {StatementLine._meta.db_table} l ON l.channel_id = p.channel_id AND l.txn_no = p.txn_no
            WHERE p.channel_id = ANY(%(channels)s)
            LIMIT %(limit)s
        ),
        picked AS (
            SELECT pairs.*, r.id AS run_id,
                   ({types})[1 + g %% {len(TYPES)}] AS type,
                   ({states})[1 + (g / {len(TYPES)}) %% {len(STATES)}] AS state,
                   CASE WHEN g %% 3 = 0 THEN (%(clerks)s::bigint[])[1 + (g / 3) %% %(clerk_count)s] END AS clerk_id
            FROM pairs
            JOIN {ReconciliationRun._meta.db_table} r ON r.channel_id = pairs.channel_id AND r.business_date = pairs.business_date
        ),
        valued AS (
            SELECT picked.*,
                   CASE type WHEN {L.BANK_ONLY} THEN amount WHEN {L.PLATFORM_ONLY} THEN -amount
                             WHEN {L.STATUS_MISMATCH} THEN amount WHEN {L.AMOUNT_MISMATCH} THEN -1.00
                             WHEN {L.FEE_MISMATCH} THEN -0.01 ELSE amount END AS effect
            FROM picked
        )
        INSERT INTO {Discrepancy._meta.db_table} (
            run_id, channel_id, business_date, counterpart_date, type, state, match_key, platform_txn_id,
            statement_line_id, batch_no, currency, platform_amount, bank_amount, platform_status, bank_status,
            bank_fee, expected_fee, platform_fee, effect, direction, carry_until, closed_as, created_at,
            updated_at, resolved_at, workflow_started_at, assigned_to_id
        )
        SELECT run_id, channel_id, business_date,
               CASE WHEN type IN ({L.BANK_ONLY}, {L.PLATFORM_ONLY}, {L.DUPLICATE}) THEN NULL ELSE business_date END,
               type, state, txn_no,
               CASE WHEN type IN ({L.BANK_ONLY}, {L.DUPLICATE}) THEN NULL ELSE txn_id END,
               CASE WHEN type = {L.PLATFORM_ONLY} THEN NULL ELSE line_id END,
               '', %(currency)s,
               CASE WHEN type IN ({L.BANK_ONLY}, {L.DUPLICATE}) THEN NULL
                    WHEN type = {L.AMOUNT_MISMATCH} THEN amount + 1.00 ELSE amount END,
               CASE WHEN type = {L.PLATFORM_ONLY} THEN NULL ELSE amount END,
               CASE WHEN type IN ({L.BANK_ONLY}, {L.DUPLICATE}) THEN '' WHEN type = {L.STATUS_MISMATCH} THEN {L.UNKNOWN}
                    ELSE {L.SUCCESS} END,
               CASE WHEN type = {L.PLATFORM_ONLY} THEN '' ELSE {L.SUCCESS} END,
               CASE WHEN type = {L.PLATFORM_ONLY} THEN NULL WHEN type = {L.FEE_MISMATCH} THEN fee + 0.01 ELSE fee END,
               CASE WHEN type = {L.FEE_MISMATCH} THEN fee END,
               CASE WHEN type = {L.FEE_MISMATCH} THEN fee END,
               effect,
               CASE WHEN effect > 0 THEN {overage} WHEN effect < 0 THEN {shortage} ELSE '' END,
               CASE WHEN state = {L.CARRIED_OVER} THEN business_date + 3 END,
               CASE WHEN state = {L.RESOLVED} THEN ({closed_as})[1 + g %% 3] ELSE '' END,
               %(now)s, %(now)s,
               CASE WHEN state = {L.RESOLVED} THEN %(now)s END,
               CASE WHEN clerk_id IS NOT NULL OR state IN ({L.PROPOSED}, {L.APPROVED}) THEN %(now)s END,
               CASE WHEN state <> {L.RESOLVED} THEN clerk_id END
        FROM valued
    """
    return sql, {"channels": channel_ids, "clerks": clerk_ids, "clerk_count": len(clerk_ids), "limit": limit, "currency": "CNY"}


def queue_seed(
    *, channels: list[Channel], clerks: list, discrepancies: int, today: date, seed: int, now: datetime, report: StageReport
) -> dict:
    """Write the queue's data; returns its shape (counts by state and type, the days, a run id)."""
    days = [today - timedelta(days=k) for k in range(1, QUEUE_BENCH_DAYS + 1)]
    per_day = -(-discrepancies // (len(channels) * len(days)))
    started = time.perf_counter()
    with transaction.atomic():
        for channel in channels:
            for n, day in enumerate(days):
                simulate_day(channel=channel, business_date=day, count=per_day, difference_rate=0, seed=seed + n)
        ReconciliationRun.objects.bulk_create(
            ReconciliationRun(
                channel=channel,
                business_date=day,
                status=RunStatus.SUCCEEDED,
                trigger=RunTrigger.COMMAND,
                phase="",
                created_at=now,
                started_at=now,
                finished_at=now,
                counts={},
            )
            for channel in channels
            for day in days
        )
        report(f"  {per_day * len(channels) * len(days):,} transactions and lines in {time.perf_counter() - started:.1f} s")
        sql, params = _discrepancies_sql(
            channel_ids=[c.pk for c in channels], clerk_ids=[u.pk for u in clerks], limit=discrepancies
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, {**params, "now": now})
            written = cursor.rowcount
    if written != discrepancies:
        raise BenchmarkFailed(f"{written:,} discrepancies written, {discrepancies:,} asked for")
    with connection.cursor() as cursor:  # autocommit: fresh statistics for the planner, as autovacuum would
        for model in (Discrepancy, PlatformTransaction, StatementLine, ReconciliationRun):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    found = Discrepancy.objects.filter(channel__in=channels)
    shape = {
        "discrepancies": found.count(),
        "channels": len(channels),
        "days": len(days),
        "first_day": days[-1].isoformat(),
        "last_day": days[0].isoformat(),
        "by_state": _counts(found, "state"),
        "by_type": _counts(found, "type"),
        "assigned": found.filter(assigned_to__isnull=False).count(),
        "seed_seconds": time.perf_counter() - started,
        "run_id": ReconciliationRun.objects.filter(channel=channels[0], business_date=days[0]).values_list("pk", flat=True)[0],
    }
    return shape


def _counts(queryset, column: str) -> dict[str, int]:
    return dict(queryset.order_by().values_list(column).annotate(n=Count("id")).order_by(column))


# --- the server and the client ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn with ``workers`` sync workers on 127.0.0.1, with production settings (DEBUG off) on this
    process's database; the same SECRET_KEY, so the session made here is valid there."""

    def __init__(self, *, workers: int, log: Path):
        self.port = _free_port()
        self.workers = workers
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DEBUG": "0",
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "STATIC_FROM_FINDERS": "1",
            "LOG_LEVEL": "WARNING",
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "CELERY_BROKER_URL": "memory://localhost/",  # a GET enqueues nothing; nothing may reach a real broker
        }
        if db.get("HOST"):
            user = f"{db['USER']}:{db['PASSWORD']}@" if db.get("PASSWORD") else f"{db['USER']}@"
            env["DATABASE_URL"] = f"postgres://{user}{db['HOST']}:{db.get('PORT') or 5432}/{db['NAME']}"
        gunicorn = Path(sys.executable).with_name("gunicorn")
        if not gunicorn.exists():
            raise BenchmarkFailed(f"{gunicorn} is not installed (pip install gunicorn)")
        command = [str(gunicorn), "backoffice.wsgi:application", "--workers", str(self.workers)]
        command += ["--bind", f"127.0.0.1:{self.port}", "--timeout", "120", "--log-level", "warning"]
        self.process = subprocess.Popen(
            command, env=env, cwd=settings.BASE_DIR, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkFailed(f"gunicorn ended (exit code {self.process.returncode}); see {self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise BenchmarkFailed(f"gunicorn did not listen on port {self.port} within {SERVER_START_SECONDS} s; see {self.log}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect (to the login page) is an error here, not something to follow


def session_for(user) -> str:
    """A logged-in session as the login view leaves it, stored in the database the server reads; its key."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def measure(*, base_url: str, cookie: str, scenario: Scenario, requests: int, concurrency: int, warmup: int) -> None:
    opener = build_opener(_NoRedirect)
    headers = {"Cookie": cookie, "Accept-Language": "en"}

    def one(_: int) -> tuple[float, str | None, int]:
        started = time.perf_counter()
        try:
            with opener.open(Request(base_url + scenario.path, headers=headers), timeout=60) as response:
                body = response.read()
                error = None if response.status == 200 else f"HTTP {response.status}"
        except HTTPError as exc:
            body, error = b"", f"HTTP {exc.code} {exc.headers.get('Location', '')}".strip()
        except OSError as exc:
            body, error = b"", f"{type(exc).__name__}: {exc}"
        return (time.perf_counter() - started) * 1000, error, len(body)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(warmup)))  # every worker process warm (imports, templates, connection)
        started = time.perf_counter()
        for ms, error, size in pool.map(one, range(requests)):
            scenario.latencies_ms.append(ms)
            scenario.response_bytes = max(scenario.response_bytes, size)
            if error:
                scenario.errors.append(error)
        scenario.seconds = time.perf_counter() - started


def scenarios(*, channel: Channel, run_id: int) -> list[Scenario]:
    queue = reverse("reconciliation:discrepancy_list")

    def q(**params) -> str:
        return f"{queue}?{urlencode(params)}"

    return [
        Scenario("queue as it opens", queue),
        Scenario("queue, one channel", q(channel=channel.pk)),
        Scenario("queue, state open", q(state=DiscrepancyState.OPEN)),
        Scenario("queue, not resolved", q(state="UNRESOLVED")),
        Scenario("queue, type amount mismatch", q(type=DiscrepancyType.AMOUNT_MISMATCH)),
        Scenario("queue, sorted by amount", q(sort="-abs")),
        Scenario("queue, page 500", q(page=500)),
        Scenario("queue, not resolved, channel, by amount", q(channel=channel.pk, state="UNRESOLVED", sort="-abs")),
        Scenario("dashboard", reverse("dashboard")),
        Scenario("run page", reverse("reconciliation:run_detail", args=[run_id])),
    ]


def pages_measure(
    *, scenarios: list[Scenario], clerk, requests: int, concurrency: int, workers: int, log_name: str, report: StageReport
) -> list[dict]:
    """Serve this database with gunicorn and time every scenario as ``clerk`` (a session made here and removed
    after); returns each scenario's figures. A request answered with an error or a redirect fails the benchmark."""
    log = Path(settings.VAR_DIR) / log_name
    log.parent.mkdir(parents=True, exist_ok=True)
    server, session_key = Server(workers=workers, log=log), None
    try:
        server.start()
        report(f"gunicorn ({workers} workers) at {server.url}; {requests} requests per scenario, {concurrency} at a time")
        session_key = session_for(clerk)
        cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}"
        results = []
        for scenario in scenarios:
            measure(
                base_url=server.url,
                cookie=cookie,
                scenario=scenario,
                requests=requests,
                concurrency=concurrency,
                warmup=max(2 * workers, concurrency),
            )
            figures = scenario.figures()
            results.append(figures)
            report(
                f"  {figures['name']}: p50 {figures['p50_ms']:.0f} ms, p95 {figures['p95_ms']:.0f} ms, "
                f"p99 {figures['p99_ms']:.0f} ms, max {figures['max_ms']:.0f} ms"
                + (f", {figures['errors']} errors ({figures['first_error']})" if figures["errors"] else "")
            )
    finally:
        server.stop()
        if session_key:
            Session.objects.filter(pk=session_key).delete()
    failed = [r for r in results if r["errors"]]
    if failed:
        raise BenchmarkFailed(f"{failed[0]['name']}: {failed[0]['errors']} requests failed: {failed[0]['first_error']}")
    return results


# --- the command's entry point ----------------------------------------------------------------------


def queue_benchmark_run(
    *,
    discrepancies: int,
    requests: int,
    concurrency: int,
    workers: int,
    keep: bool,
    seed: int,
    today: date,
    now: datetime,
    report: StageReport,
    only: Callable[[Scenario], bool] = lambda s: True,
) -> dict:
    tasks_go_nowhere()  # nothing this process writes may reach a worker
    channels = queue_channels_get_or_create()
    clerks = queue_clerks_get_or_create()
    removed = queue_bench_data_remove(channels=channels)
    if removed:
        report(f"removed {removed:,} rows a previous run left on the benchmark channels")
    try:
        report(f"seeding {discrepancies:,} discrepancies on {len(channels)} channels over {QUEUE_BENCH_DAYS} days (not timed)…")
        shape = queue_seed(
            channels=channels, clerks=clerks, discrepancies=discrepancies, today=today, seed=seed, now=now, report=report
        )
        report(f"  seeded in {shape['seed_seconds']:.1f} s: {shape['by_state']}")
        Channel.objects.filter(pk__in=[c.pk for c in channels]).update(is_active=True)  # the dashboard shows active ones
        results = pages_measure(
            scenarios=[s for s in scenarios(channel=channels[0], run_id=shape["run_id"]) if only(s)],
            clerk=clerks[0],
            requests=requests,
            concurrency=concurrency,
            workers=workers,
            log_name="bench_queue_gunicorn.log",
            report=report,
        )
        return {
            "shape": shape,
            "requests_per_scenario": requests,
            "concurrency": concurrency,
            "gunicorn_workers": workers,
            "target_p95_ms": TARGET_P95_MS,
            "scenarios": results,
            "machine": machine_notes(),
        }
    finally:
        Channel.objects.filter(pk__in=[c.pk for c in channels]).update(is_active=False)
        if not keep:
            queue_bench_data_remove(channels=channels)
