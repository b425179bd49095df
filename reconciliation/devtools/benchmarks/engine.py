"""The reconciliation engine benchmark behind ``manage.py bench_reconcile``.

For each size N one round generates a simulated business day (``reconciliation.devtools.simulation``: N of our
transactions and the channel's lines for them, about 1 % of them carrying an injected difference of
every type), runs stage 1 on it through the real service (``run_execute``) in a child process, checks
that the run found exactly the injected set, and sets its time against the floor: a plain SQL full
outer hash join of the same rows. Once per command, a naive per-row ORM matcher (the obvious
approach) is timed on a small day of its own, in a transaction that is rolled back.

Everything is written to a dedicated, inactive channel (``BENCHRC``, with its own bank); its records,
statement lines, runs and discrepancies are removed before each round and at the end unless kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from reconciliation.devtools.benchmarks.common import (
    BenchmarkFailed,
    StageReport,
    backend_peak_mb,
    channel_data_remove,
    checkpoint,
    in_child,
    machine_notes,
)
from reconciliation.devtools.simulation import simulate_day
from reconciliation.models import (
    Bank,
    BankAccount,
    BusinessType,
    Channel,
    Discrepancy,
    DiscrepancyState,
    DiscrepancyType,
    EffectDirection,
    FeeModel,
    PlatformTransaction,
    ReconciliationRun,
    RunStatus,
    RunTrigger,
    StatementFile,
    StatementLine,
)
from reconciliation.services.channels.fees import fee_quote
from reconciliation.services.engine.runs import run_execute, run_start

ENGINE_BENCH_CODE = "BENCHRC"
DIFFERENCE_RATE = 0.01
SHANGHAI = ZoneInfo("Asia/Shanghai")
# The benchmark's days lie far in the past, so no schedule or carry-over of a real date meets them.
FIRST_DAY = date(2001, 1, 1)
FEES_FROM = datetime(2000, 1, 1, tzinfo=SHANGHAI)
MB = 1 << 20
# Columns compared by the floor query: what the engine needs of both sides to classify a pair.
FLOOR_SQL = f"""
    SELECT count(*),
           count(*) FILTER (WHERE p.id IS NULL OR l.id IS NULL OR p.status <> l.status OR p.amount <> l.amount
                                   OR p.fee IS DISTINCT FROM l.fee)
    FROM (SELECT id, txn_no, amount, fee, status FROM {PlatformTransaction._meta.db_table}
          WHERE channel_id = %(channel)s AND business_date = %(day)s) p
    FULL JOIN (SELECT id, txn_no, amount, fee, status FROM {StatementLine._meta.db_table}
               WHERE file_id = %(file)s) l ON l.txn_no = p.txn_no
"""


def engine_channel_get_or_create(code: str = ENGINE_BENCH_CODE, *, label: str = "Engine benchmark") -> Channel:
    """The dedicated channel ``code`` with a bank of the same code: WeChat-like (matched by our order number),
    0.6 % on collections, a fixed 2.00 billed separately on payouts, as ``simulate_day`` expects. Inactive:
    no schedule runs it."""
    bank, _ = Bank.objects.get_or_create(code=code, defaults={"name": f"{label} bank (synthetic data)"})
    account, _ = BankAccount.objects.get_or_create(
        bank=bank,
        account_no=f"{code}-GENERAL",
        defaults={"kind": BankAccount.Kind.GENERAL, "account_name": f"{label} general account"},
    )
    channel, created = Channel.objects.get_or_create(
        code=code,
        defaults={
            "name": f"{label} (synthetic data)",
            "bank": bank,
            "kind": Channel.Kind.WECHAT,
            "currency": "CNY",
            "match_key": Channel.MatchKey.TXN_NO,
            "is_active": False,
        },
    )
    if (channel.kind, channel.match_key, channel.currency) != (Channel.Kind.WECHAT, Channel.MatchKey.TXN_NO, "CNY"):
        raise BenchmarkFailed(
            f"channel {code} exists but is not a WeChat CNY channel matched by our order number; "
            f"the benchmark needs a channel of its own: rename that channel's code"
        )
    if created:
        FeeModel.objects.create(
            channel=channel, business_type=BusinessType.COLLECTION, rate=Decimal("0.006"), valid_from=FEES_FROM
        )
        FeeModel.objects.create(
            channel=channel,
            business_type=BusinessType.PAYOUT,
            rate=Decimal(0),
            fixed_amount=Decimal("2.00"),
            charging_mode=FeeModel.ChargingMode.EXTERNAL,
            charged_account=account,
            valid_from=FEES_FROM,
        )
    return channel


def engine_bench_data_remove(*, channel: Channel) -> int:
    """Remove everything the benchmark wrote on its channel (``channel_data_remove``); returns how many
    statement rows and records went."""
    return channel_data_remove(channel=channel)


# --- one round ------------------------------------------------------------------------------------


@dataclass
class Round:
    requested: int
    transactions: int = 0
    rows: int = 0
    lines: int = 0
    injected: int = 0
    found: int = 0
    seconds: float = 0.0
    peak_mb: float = 0.0
    baseline_mb: float = 0.0
    backend_peak_mb: float | None = None
    cpu_seconds: float = 0.0
    floor_seconds: float = 0.0
    generate_seconds: float = 0.0


def _generate(channel_id: int, business_date: date, count: int, seed: int) -> dict:
    channel = Channel.objects.get(pk=channel_id)
    with transaction.atomic():
        day = simulate_day(channel=channel, business_date=business_date, count=count, difference_rate=DIFFERENCE_RATE, seed=seed)
    return {
        "transactions": day.transactions,
        "lines": day.lines,
        "file_id": day.statement_file.pk,
        "injected": sorted(day.injected),
    }


def _execute(run_id: int, now: datetime) -> dict:
    run = run_execute(run=ReconciliationRun.objects.get(pk=run_id), now=now)
    figures = {"status": run.status, "run_error": run.error[:2000], "backend_peak_mb": backend_peak_mb()}
    return figures


def engine_verify(*, channel: Channel, business_date: date, run_id: int, injected: set[tuple[str, str]]) -> int:
    """The run must have succeeded and found exactly the injected differences; returns how many."""
    run = ReconciliationRun.objects.get(pk=run_id)
    if run.status != RunStatus.SUCCEEDED:
        raise BenchmarkFailed(f"run #{run.pk} ended {run.status}: {run.error[:500]}")
    found = set(Discrepancy.objects.filter(channel=channel, business_date=business_date).values_list("type", "match_key"))
    missing, extra = injected - found, found - injected
    if missing or extra:
        raise BenchmarkFailed(
            f"run #{run.pk} found {len(found):,} differences against {len(injected):,} injected: "
            f"{len(missing):,} missed (e.g. {sorted(missing)[:3]}), {len(extra):,} not injected (e.g. {sorted(extra)[:3]})"
        )
    return len(found)


def floor_measure(*, channel: Channel, business_date: date, file_id: int, pairs: int, repeat: int = 3) -> float:
    """The best of ``repeat`` runs of a plain full outer hash join of the same rows (the floor)."""
    best = None
    params = {"channel": channel.pk, "day": business_date, "file": file_id}
    for _ in range(repeat):
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(FLOOR_SQL, params)
            joined, differing = cursor.fetchone()
            seconds = time.perf_counter() - started
        if joined < pairs:
            raise BenchmarkFailed(f"the floor query joined {joined:,} rows, fewer than the {pairs:,} transactions")
        best = seconds if best is None else min(best, seconds)
    return best


def engine_round(
    *, channel: Channel, transactions: int, business_date: date, seed: int, now: datetime, report: StageReport
) -> Round:
    """Generate a day of ``transactions`` records, reconcile it in a child process, verify, time the floor."""
    figures = Round(requested=transactions)
    report(f"{transactions:,} transactions: generating the day and its statement (not timed)…")
    started = time.perf_counter()
    generated = in_child(lambda: _generate(channel.pk, business_date, transactions, seed), name="bench-generate")
    figures.generate_seconds = time.perf_counter() - started
    figures.lines, figures.injected = generated["lines"], len(generated["injected"])
    figures.transactions = generated["transactions"]
    figures.rows = figures.transactions + figures.lines
    report(
        f"  {figures.transactions:,} transactions, {figures.lines:,} lines, {figures.injected:,} injected differences "
        f"in {figures.generate_seconds:.1f} s; VACUUM ANALYZE…"
    )
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute(f"VACUUM ANALYZE {PlatformTransaction._meta.db_table}")
        cursor.execute(f"VACUUM ANALYZE {StatementLine._meta.db_table}")
    checkpoint()
    run = run_start(channel=channel, business_date=business_date, trigger=RunTrigger.COMMAND, now=now, execute=False)
    report(f"  run #{run.pk}: matching, classifying and writing discrepancies in a child process (timed)…")
    executed = in_child(lambda: _execute(run.pk, now), name="bench-reconcile")
    figures.seconds, figures.peak_mb, figures.baseline_mb = executed["seconds"], executed["peak_mb"], executed["baseline_mb"]
    figures.cpu_seconds, figures.backend_peak_mb = executed["cpu_seconds"], executed["backend_peak_mb"]
    injected = {tuple(pair) for pair in generated["injected"]}
    figures.found = engine_verify(channel=channel, business_date=business_date, run_id=run.pk, injected=injected)
    report(f"  {figures.seconds:.2f} s, found exactly the {figures.found:,} injected differences; the floor (timed)…")
    figures.floor_seconds = floor_measure(
        channel=channel, business_date=business_date, file_id=generated["file_id"], pairs=figures.transactions
    )
    report(f"  floor {figures.floor_seconds:.2f} s")
    return figures


# --- the obvious approach: a per-row ORM matcher ------------------------------------------------------


class _RollBack(Exception):
    pass


def orm_matcher(*, channel: Channel, business_date: date, statement_file: StatementFile, now: datetime) -> int:
    """Match a day the way one would write it first with the ORM: one query per record and per line,
    the fee model looked up per pair, one INSERT per discrepancy. Returns how many it found."""
    run = ReconciliationRun.objects.create(
        channel=channel,
        business_date=business_date,
        trigger=RunTrigger.COMMAND,
        status=RunStatus.RUNNING,
        created_at=now,
        started_at=now,
    )
    found = 0

    def record(kind: str, txn: PlatformTransaction | None, line: StatementLine | None) -> None:
        nonlocal found
        found += 1
        effect = (line.amount if line else 0) - (txn.amount if txn else 0)
        Discrepancy.objects.create(
            run=run,
            channel=channel,
            business_date=business_date,
            type=kind,
            state=DiscrepancyState.OPEN,
            match_key=(txn or line).txn_no,
            platform_txn=txn,
            statement_line=line,
            currency=channel.currency,
            platform_amount=txn.amount if txn else None,
            bank_amount=line.amount if line else None,
            platform_status=txn.status if txn else "",
            bank_status=line.status if line else "",
            effect=effect,
            direction=EffectDirection.OVERAGE if effect > 0 else EffectDirection.SHORTAGE if effect < 0 else "",
            created_at=now,
            updated_at=now,
        )

    for txn in PlatformTransaction.objects.filter(channel=channel, business_date=business_date).iterator():
        line = StatementLine.objects.filter(file=statement_file, txn_no=txn.txn_no).first()
        if line is None:
            record(DiscrepancyType.PLATFORM_ONLY, txn, None)
        elif line.status != txn.status:
            record(DiscrepancyType.STATUS_MISMATCH, txn, line)
        elif line.amount != txn.amount:
            record(DiscrepancyType.AMOUNT_MISMATCH, txn, line)
        elif fee_quote(channel=channel, business_type=txn.business_type, amount=txn.amount, at=txn.created_at).fee != line.fee:
            record(DiscrepancyType.FEE_MISMATCH, txn, line)
    for line in StatementLine.objects.filter(file=statement_file).iterator():
        if not PlatformTransaction.objects.filter(channel=channel, txn_no=line.txn_no).exists():
            record(DiscrepancyType.BANK_ONLY, None, line)
    return found


def orm_measure(*, channel: Channel, transactions: int, business_date: date, seed: int, now: datetime) -> dict:
    """Time the per-row matcher on a day of its own; everything it writes is rolled back."""
    generated = _generate(channel.pk, business_date, transactions, seed)
    statement_file = StatementFile.objects.get(pk=generated["file_id"])
    rows = generated["transactions"] + generated["lines"]
    started = time.perf_counter()
    try:
        with transaction.atomic():
            found = orm_matcher(channel=channel, business_date=business_date, statement_file=statement_file, now=now)
            seconds = time.perf_counter() - started
            raise _RollBack
    except _RollBack:
        pass
    if not found:
        raise BenchmarkFailed("the per-row matcher found no difference on a day with injected ones")
    return {"transactions": generated["transactions"], "rows": rows, "seconds": seconds, "found": found}


# --- the command's whole run -----------------------------------------------------------------------


def engine_benchmark_run(*, sizes: list[int], orm_rows: int, keep: bool, seed: int, now: datetime, report: StageReport) -> dict:
    channel = engine_channel_get_or_create()
    removed = engine_bench_data_remove(channel=channel)
    if removed:
        report(f"removed {removed:,} rows left by an earlier kept run")
    rounds: list[Round] = []
    orm = None
    try:
        for index, size in enumerate(sizes):
            if index:
                engine_bench_data_remove(channel=channel)  # every round starts from the same table sizes
            rounds.append(
                engine_round(
                    channel=channel,
                    transactions=size,
                    business_date=FIRST_DAY + timedelta(days=index),
                    seed=seed + index,
                    now=now,
                    report=report,
                )
            )
        if orm_rows:
            report(f"the per-row ORM matcher on a day of {orm_rows:,} transactions (timed, rolled back)…")
            orm = orm_measure(
                channel=channel, transactions=orm_rows, business_date=FIRST_DAY - timedelta(days=1), seed=seed - 1, now=now
            )
            report(f"  {orm['seconds']:.2f} s")
    finally:
        if not keep:
            engine_bench_data_remove(channel=channel)
            report("removed the benchmark's records, lines, runs and discrepancies")
    results = []
    for r in rounds:
        rows_per_s = r.rows / r.seconds
        results.append(
            {
                "requested": r.requested,
                "transactions": r.transactions,
                "lines": r.lines,
                "rows": r.rows,
                "injected": r.injected,
                "found": r.found,
                "exact": r.found == r.injected,
                "seconds": round(r.seconds, 6),
                "rows_per_s": round(rows_per_s),
                "seconds_per_million_transactions": round(r.seconds / r.transactions * 1_000_000, 3),
                "peak_mb": round(r.peak_mb, 1),
                "baseline_mb": round(r.baseline_mb, 1),
                "backend_peak_mb": round(r.backend_peak_mb, 1) if r.backend_peak_mb is not None else None,
                "process_cpu_seconds": round(r.cpu_seconds, 3),
                "floor_seconds": round(r.floor_seconds, 6),
                "ratio_vs_floor": round(r.seconds / r.floor_seconds, 2),
                "generate_seconds": round(r.generate_seconds, 1),
                "orm_slower_per_row": round(rows_per_s / (orm["rows"] / orm["seconds"]), 1) if orm else None,
            }
        )
    return {
        "rounds": results,
        "orm": {**orm, "seconds": round(orm["seconds"], 3), "rows_per_s": round(orm["rows"] / orm["seconds"])} if orm else None,
        "difference_rate": DIFFERENCE_RATE,
        "kept": keep,
        "machine": machine_notes(),
    }
