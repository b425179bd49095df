"""The history benchmark behind ``manage.py bench_history``: does a day get slower as the months pile up?

Issue 14 asks that with 30 days of a million lines each in the database (30 million statement lines, 30
million of our records) a day's import and run take no longer than on an empty database, and that the
clerk's screens still answer in under 300 ms at the 95th percentile. One run of the command:

1. **The day without history** (only while the history channel holds nothing): the whole-day benchmark
   (``day_benchmark_run``, channel ``BENCHDAY``) as ``bench_day`` runs it.
2. **The history** (not timed as a whole; each day's stage 1 is): on the dedicated, inactive channel
   ``BENCHHIST`` (WeChat-like, matched by our order number, its own bank), for each of the D business dates
   before the measured day, oldest first: the day's partitions made as the housekeeping beat makes them,
   N of our records and N lines written (``simulate_day``, COPY, about 1 % injected differences of every
   type), their statistics taken as intake takes them, then the date's stage-1 run through the engine,
   which writes the day's discrepancies for real and carries the channel's open items over from the days
   before. The history is kept (it takes long to make): a later run fills only the dates it lacks, and
   ``--remove`` takes it away.
3. **The day with the history**: the whole-day benchmark again, on the same channel and files as step 1.
4. **The screens**: gunicorn with production settings serves the database and a clerk's requests are timed
   (``pages_measure`` of the queue benchmark): the queue as it opens, filtered and sorted, a far page, the
   dashboard and the page of the history's latest run.

The measured day is on ``BENCHDAY``, not on the history's channel, so that both measurements of it are the
same work (its clean-up removes its own channel's data only). What the history costs a channel's own run —
the open items of its earlier days carried into each new run — shows in step 2: stage 1 of every history day
is timed, from the first (no history) to the last (D − 1 days of it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from reconciliation.devtools.benchmarks.common import (
    BenchmarkFailed,
    StageReport,
    channel_data_remove,
    checkpoint,
    in_child,
    machine_notes,
)
from reconciliation.devtools.benchmarks.day import day_benchmark_run
from reconciliation.devtools.benchmarks.engine import DIFFERENCE_RATE, engine_channel_get_or_create
from reconciliation.devtools.benchmarks.queue import (
    TARGET_P95_MS,
    pages_measure,
    queue_clerks_get_or_create,
    scenarios,
)
from reconciliation.devtools.simulation import simulate_day
from reconciliation.models import (
    Channel,
    Discrepancy,
    PlatformTransaction,
    ReconciliationRun,
    RunStage,
    RunStatus,
    RunTrigger,
    StatementFile,
    StatementLine,
)
from reconciliation.services.engine.runs import run_execute, run_start
from reconciliation.services.partitions import PARTITIONED, daily_rows_analyze, partitions_ensure

HISTORY_BENCH_CODE = "BENCHHIST"
# The measured day is the day before yesterday (bench_day); the history ends the day before it.
FIRST_GAP_DAYS = 3
STEPS_COMPARED = ("import_transactions", "import_statement", "stage1", "stage2")


def history_channel_get_or_create() -> Channel:
    return engine_channel_get_or_create(HISTORY_BENCH_CODE, label="History benchmark")


def history_dates(*, today: date, days: int) -> list[date]:
    """The history's business dates, oldest first: the ``days`` dates before the measured day."""
    return [today - timedelta(days=FIRST_GAP_DAYS + k) for k in reversed(range(days))]


@dataclass(frozen=True)
class HistoryDay:
    business_date: date
    lines: int
    run_succeeded: bool


def history_held(channel: Channel) -> dict[date, HistoryDay]:
    """Every date the history channel holds: its statement lines and whether its stage-1 run succeeded."""
    lines = dict(
        StatementLine.objects.filter(channel=channel)
        .order_by()
        .values_list("statement_date")
        .annotate(n=Count("id"))
        .values_list("statement_date", "n")
    )
    succeeded = set(
        ReconciliationRun.objects.filter(channel=channel, stage=RunStage.TRANSACTION, status=RunStatus.SUCCEEDED).values_list(
            "business_date", flat=True
        )
    )
    return {day: HistoryDay(day, count, day in succeeded) for day, count in lines.items()}


def _day_fill(channel_id: int, business_date: date, lines: int, seed: int, generate: bool) -> dict:
    """In a child: write the date's records and lines (unless there), analyse them as intake does, then run
    the date's stage 1 through the engine. Returns the times and what the run found."""
    channel = Channel.objects.get(pk=channel_id)
    generate_seconds = 0.0
    if generate:
        for model in PARTITIONED:
            partitions_ensure(model, [business_date])
        started = time.perf_counter()
        with transaction.atomic():
            simulate_day(channel=channel, business_date=business_date, count=lines, difference_rate=DIFFERENCE_RATE, seed=seed)
            daily_rows_analyze(StatementLine, [business_date])
            daily_rows_analyze(PlatformTransaction)
        generate_seconds = time.perf_counter() - started
    checkpoint()
    now = timezone.now()
    run = run_start(channel=channel, business_date=business_date, trigger=RunTrigger.COMMAND, now=now, execute=False)
    started = time.perf_counter()
    run = run_execute(run=run, now=now)
    run_seconds = time.perf_counter() - started
    if run.status != RunStatus.SUCCEEDED:
        raise BenchmarkFailed(f"the history's run #{run.pk} of {business_date} ended {run.status}: {run.error[:500]}")
    return {
        "generate_seconds": generate_seconds,
        "stage1_seconds": run_seconds,
        "run_id": run.pk,
        "discrepancies": Discrepancy.objects.filter(run=run).count(),
    }


def history_fill(*, channel: Channel, dates: list[date], lines: int, seed: int, report: StageReport) -> list[dict]:
    """Make every date of ``dates`` the history lacks; returns a row per date made (its stage 1 timed)."""
    held = history_held(channel)
    # A day made for N transactions holds about N lines (its injected differences add or take away a few).
    wrong = {day: h.lines for day, h in held.items() if day in dates and abs(h.lines - lines) > lines * DIFFERENCE_RATE + 1}
    if wrong:
        day, count = min(wrong.items())
        raise BenchmarkFailed(
            f"the history holds {count:,} lines on {day}, not about the {lines:,} asked for: "
            f"remove it first (bench_history --remove) or ask for as many lines as it was made with"
        )
    made = []
    for n, day in enumerate(dates):
        have = held.get(day)
        if have and have.run_succeeded:
            continue
        report(f"  {day}: {'running stage 1' if have else f'writing {lines:,} records and lines, then stage 1'}…")
        figures = in_child(
            lambda day=day, n=n, have=have: _day_fill(channel.pk, day, lines, seed + n, generate=have is None),
            name="bench-history-day",
        )
        made.append(
            {"business_date": day.isoformat(), **{k: figures[k] for k in ("generate_seconds", "stage1_seconds", "discrepancies")}}
        )
        report(
            f"    written in {figures['generate_seconds']:.1f} s; stage 1 {figures['stage1_seconds']:.2f} s, "
            f"{figures['discrepancies']:,} discrepancies"
        )
    if made:
        with connection.cursor() as cursor:  # autocommit: what autovacuum would have done by the next morning
            for model in (PlatformTransaction, Discrepancy, ReconciliationRun, StatementFile):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    return made


def history_shape(channel: Channel) -> dict:
    held = history_held(channel)
    return {
        "channel": channel.code,
        "days": len(held),
        "first_day": min(held).isoformat() if held else None,
        "last_day": max(held).isoformat() if held else None,
        "statement_lines": sum(h.lines for h in held.values()),
        "transactions": PlatformTransaction.objects.filter(channel=channel).count(),
        "discrepancies": Discrepancy.objects.filter(channel=channel).count(),
        "all_statement_lines": _estimate(StatementLine),
        "all_transactions": _estimate(PlatformTransaction),
    }


def _estimate(model) -> int:
    """The planner's row count of a whole table (a partitioned one: the sum over its partitions)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(sum(GREATEST(c.reltuples, 0)), 0)::bigint FROM pg_class c "
            "WHERE c.oid = %s::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass)",
            [model._meta.db_table, model._meta.db_table],
        )
        return cursor.fetchone()[0]


def _compared(empty: dict | None, full: dict) -> dict:
    """Each step's seconds without and with the history, and the ratio."""
    if empty is None:
        return {}
    rows = {}
    for name in (*STEPS_COMPARED, "imports_and_stage1"):
        before = empty["imports_and_stage1_seconds"] if name == "imports_and_stage1" else empty["steps"][name]["seconds"]
        after = full["imports_and_stage1_seconds"] if name == "imports_and_stage1" else full["steps"][name]["seconds"]
        rows[name] = {"empty_seconds": before, "history_seconds": after, "ratio": round(after / before, 3)}
    return rows


def history_remove(report: StageReport) -> int:
    channel = history_channel_get_or_create()
    removed = channel_data_remove(channel=channel)
    report(f"removed {removed:,} rows of the history on {channel.code}")
    return removed


def history_benchmark_run(
    *,
    days: int,
    lines: int,
    seed: int,
    requests: int,
    concurrency: int,
    workers: int,
    baseline: bool,
    now: datetime,
    report: StageReport,
) -> dict:
    channel = history_channel_get_or_create()
    today = timezone.localdate(now)
    dates = history_dates(today=today, days=days)
    empty_day = None
    if baseline and not StatementLine.objects.filter(channel=channel).exists():
        report(f"1/4 the day without history: bench_day at {lines:,} lines")
        empty_day = day_benchmark_run(lines=lines, seed=seed, keep=False, now=now, report=report)
    elif baseline:
        report(f"1/4 skipped: {channel.code} already holds a history (bench_history --remove, then run again, to compare)")
    report(f"2/4 the history: {days} days of {lines:,} records and lines on {channel.code}, {dates[0]} to {dates[-1]}")
    made = history_fill(channel=channel, dates=dates, lines=lines, seed=seed, report=report)
    shape = history_shape(channel)
    report(
        f"  {shape['days']} days, {shape['statement_lines']:,} lines, {shape['transactions']:,} records and "
        f"{shape['discrepancies']:,} discrepancies on {channel.code}"
    )
    report(f"3/4 the day with the history: bench_day at {lines:,} lines")
    full_day = day_benchmark_run(lines=lines, seed=seed, keep=False, now=now, report=report)
    report("4/4 the screens against the history (gunicorn)")
    latest_run = (
        ReconciliationRun.objects.filter(channel=channel, stage=RunStage.TRANSACTION, status=RunStatus.SUCCEEDED)
        .order_by("-business_date", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    Channel.objects.filter(pk=channel.pk).update(is_active=True)  # the dashboard shows active channels
    try:
        pages = pages_measure(
            scenarios=scenarios(channel=channel, run_id=latest_run),
            clerk=queue_clerks_get_or_create()[0],
            requests=requests,
            concurrency=concurrency,
            workers=workers,
            log_name="bench_history_gunicorn.log",
            report=report,
        )
    finally:
        Channel.objects.filter(pk=channel.pk).update(is_active=False)
    return {
        "days": days,
        "lines": lines,
        "history": {**shape, "made": made},
        "day_without_history": empty_day,
        "day_with_history": full_day,
        "compared": _compared(empty_day, full_day),
        "pages": {
            "requests_per_scenario": requests,
            "concurrency": concurrency,
            "gunicorn_workers": workers,
            "target_p95_ms": TARGET_P95_MS,
            "scenarios": pages,
            "worst_p95_ms": max(p["p95_ms"] for p in pages),
        },
        "machine": machine_notes(),
    }
