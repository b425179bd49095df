"""The statement intake benchmark behind ``manage.py bench_intake``.

One run generates a realistic WeChat Pay trade bill, takes it in through the real service
(``statement_receive`` + ``statement_parse``) in a child process, checks in the database that every
line and every amount arrived, then sets the figure against two references made from the very same
rows: the floor (a bare PostgreSQL COPY of the pre-encoded rows) and the obvious approach (a
django-import-export ``ModelResource``). Only the intake, the COPY and the import are timed.

The run writes to a dedicated channel (``BENCH``, inactive, with its own bank) and, unless asked to
keep them, removes its statement file, lines and stored raw file afterwards, also when it fails or
is interrupted. The channel and bank are created once and kept.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import resource
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from random import Random
from zoneinfo import ZoneInfo

import pgtrigger
import tablib
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Count, Sum
from import_export import resources

from backoffice.core.money import money_str
from reconciliation import parsers
from reconciliation.devtools.benchmarks.common import (
    BenchmarkFailed,
    StageReport,
    checkpoint,
    machine_notes,
    remove_empty_folders,
    rss_kb,
    tasks_go_nowhere,
)
from reconciliation.models import Bank, Channel, StatementFile, StatementKind, StatementLine
from reconciliation.parsers.base import LineStatus, LineType, StatementLineRow
from reconciliation.parsers.writers import write_wechat_trade
from reconciliation.services.channels.fees import FeeSpec, fee_function
from reconciliation.services.intake import pgcopy as statement_copy
from reconciliation.services.intake.statements import StatementRefused, statement_parse, statement_receive

BENCH_CODE = "BENCH"
FEE_RATE = Decimal("0.0060")  # WeChat's usual 0.6 %
# One line in 50 (2 %) is a refund of an earlier payment of the day.
REFUND_ONE_IN = 50
# Refunds pick their order from a pool of earlier, not yet refunded payments, bounded for flat memory:
# once full, a new payment takes the place of a random one.
REFUNDABLE_POOL = 4096
# Relative traffic per hour of the day (00:00 … 23:00): quiet nights, lunch and evening peaks.
HOURLY_WEIGHTS = (3, 2, 1, 1, 1, 2, 4, 8, 11, 12, 13, 16, 18, 14, 12, 12, 13, 14, 16, 18, 17, 13, 9, 5)
# Amounts come from a fixed stream so that runs are comparable; order numbers differ per run.
AMOUNT_SEED = 20261124
COPY_CHUNK = 1 << 20
MB = 1 << 20


# --- the bill ------------------------------------------------------------------------------------


@dataclass
class GeneratedBill:
    """What was written, to check against what arrived. Amounts are magnitudes, as in StatementLine."""

    path: Path
    statement_date: date
    lines: int = 0
    size: int = 0
    sha256: str = ""
    count_by_type: dict[str, int] = field(default_factory=dict)
    amount_by_type: dict[str, Decimal] = field(default_factory=dict)
    fee_total: Decimal = Decimal("0.00")

    @property
    def amount_total(self) -> Decimal:
        return sum(self.amount_by_type.values(), Decimal("0.00"))


# WeChat's usual 0.6 %, priced by the fee computation every channel's fee model uses.
_fee = fee_function(FeeSpec.flat_rate(FEE_RATE))


def _amount_cents(rng: Random) -> int:
    """A basket price: mostly small payments, some larger, a few large ones."""
    bucket = rng.randrange(100)
    if bucket < 70:
        return rng.randrange(100, 5_000)  # 1.00 – 49.99
    if bucket < 95:
        return rng.randrange(5_000, 50_000)  # 50.00 – 499.99
    return rng.randrange(50_000, 2_000_000)  # 500.00 – 19 999.99


def _seconds_of_day(lines: int) -> Iterator[int]:
    """Non-decreasing second of the day for each of ``lines`` rows, following HOURLY_WEIGHTS.

    Integer arithmetic: row i sits at i·W/N of the day's weight W; within its hour the rows are spread
    evenly. On average N/86 400 rows share a second (more at the peaks).
    """
    total = sum(HOURLY_WEIGHTS)
    starts = list(itertools.accumulate(HOURLY_WEIGHTS, initial=0))
    hour = 0
    for i in range(lines):
        position = i * total
        while position >= starts[hour + 1] * lines:
            hour += 1
        within = position - starts[hour] * lines
        yield hour * 3600 + within * 3600 // (HOURLY_WEIGHTS[hour] * lines)


def bench_rows(
    *,
    lines: int,
    statement_date: date,
    tz: ZoneInfo,
    token: int,
    bill: GeneratedBill,
    seed: int = AMOUNT_SEED,
    refundable: Callable[[int], bool] | None = None,
) -> Iterator[StatementLineRow]:
    """The rows of one busy merchant's day, accumulating their counts and sums into ``bill``.

    微信订单号 are 28 digits (4200000 style), refunds get 29-digit 微信退款单号; ``token`` makes every
    run's numbers (and so its file's SHA-256) unique, ``seed`` chooses the amounts and refunds. Only the
    payments of rows ``refundable(i)`` may be refunded later (default: every payment).
    """
    rng = Random(seed)
    day = f"{statement_date:%Y%m%d}"
    midnight = datetime(statement_date.year, statement_date.month, statement_date.day, tzinfo=tz)
    pool: list[tuple[str, str, int]] = []  # (微信订单号, 商户订单号, cents) of unrefunded payments
    counts = {LineType.COLLECTION: 0, LineType.REFUND: 0}
    sums = {LineType.COLLECTION: Decimal("0.00"), LineType.REFUND: Decimal("0.00")}
    fees = Decimal("0.00")
    second, moment = -1, midnight
    for i, at in enumerate(_seconds_of_day(lines)):
        if at != second:
            # One datetime object per distinct second, as a parser would hand out.
            second, moment = at, midnight + timedelta(seconds=at)
        if pool and rng.randrange(REFUND_ONE_IN) == 0:
            # Take the order out of the pool (swap with the last): an order is refunded once.
            pick = rng.randrange(len(pool))
            wx_no, order_no, paid_cents = pool[pick]
            pool[pick] = pool[-1]
            pool.pop()
            cents = paid_cents if rng.randrange(5) else rng.randrange(1, paid_cents + 1)  # 4 in 5 refunds are full
            amount = Decimal(cents).scaleb(-2)
            fee = Decimal("0.00") - _fee(amount)  # WeChat returns the fee of the refunded part (never -0.00)
            refund_no = f"50300{token:05d}{day}{i:011d}"
            row = StatementLineRow(
                0,
                refund_no,
                f"BR{day}{token:05d}{i:010d}",
                LineType.REFUND,
                LineStatus.SUCCESS,
                amount,
                fee,
                "CNY",
                moment,
                None,
                refund_no=refund_no,
                original_channel_txn_no=wx_no,
                original_txn_no=order_no,
                fee_rate=FEE_RATE,
            )
        else:
            cents = _amount_cents(rng)
            amount = Decimal(cents).scaleb(-2)
            fee = _fee(amount)
            wx_no, order_no = f"42000{token:05d}{day}{i:010d}", f"BM{day}{token:05d}{i:010d}"
            if refundable is None or refundable(i):
                if len(pool) < REFUNDABLE_POOL:
                    pool.append((wx_no, order_no, cents))
                else:
                    pool[rng.randrange(REFUNDABLE_POOL)] = (wx_no, order_no, cents)
            row = StatementLineRow(
                0,
                wx_no,
                order_no,
                LineType.COLLECTION,
                LineStatus.SUCCESS,
                amount,
                fee,
                "CNY",
                moment,
                None,
                fee_rate=FEE_RATE,
            )
        counts[row.line_type] += 1
        sums[row.line_type] += amount
        fees += fee
        yield row
    bill.lines = counts[LineType.COLLECTION] + counts[LineType.REFUND]
    bill.count_by_type = {str(kind): n for kind, n in counts.items()}
    bill.amount_by_type = {str(kind): total for kind, total in sums.items()}
    bill.fee_total = fees


def bill_generate(*, path: Path, lines: int, statement_date: date) -> GeneratedBill:
    """Write the bill to ``path`` (streamed: memory stays flat) and fingerprint it."""
    tz = ZoneInfo(settings.TIME_ZONE)
    bill = GeneratedBill(path=path, statement_date=statement_date)
    rows = bench_rows(lines=lines, statement_date=statement_date, tz=tz, token=secrets.randbelow(100_000), bill=bill)
    with path.open("wb") as out:
        write_wechat_trade(rows, out, tz=tz)
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(COPY_CHUNK):
            digest.update(chunk)
    bill.sha256, bill.size = digest.hexdigest(), path.stat().st_size
    return bill


# --- the benchmark channel and cleanup -----------------------------------------------------------


def benchmark_channel_get_or_create() -> Channel:
    """The dedicated channel; inactive, so schedules and screens of working channels ignore it."""
    bank, _ = Bank.objects.get_or_create(code=BENCH_CODE, defaults={"name": "Benchmark bank (synthetic data)"})
    channel, _ = Channel.objects.get_or_create(
        code=BENCH_CODE,
        defaults={
            "name": "Intake benchmark (synthetic data)",
            "bank": bank,
            "kind": Channel.Kind.WECHAT,
            "currency": "CNY",
            "is_active": False,
        },
    )
    if (channel.kind, channel.currency) != (Channel.Kind.WECHAT, "CNY"):
        raise BenchmarkFailed(
            f"channel {BENCH_CODE} exists but is a {channel.kind} {channel.currency} channel; the benchmark needs "
            f"a WeChat CNY channel of its own: rename that channel's code"
        )
    return channel


def benchmark_files_remove(*, channel: Channel, sha256: str) -> int:
    """Remove this run's statement file (found by its content hash), its lines and its stored raw file.

    Statement rows are immutable and files undeletable by design; the two protecting triggers are
    switched off for this transaction only (pgtrigger.ignore sets a transaction-local flag), every
    other check (foreign keys, PROTECT) stays on. Returns the number of files removed.
    """
    files = list(StatementFile.objects.filter(channel=channel, sha256=sha256).order_by("id"))
    if not files:
        return 0
    ids = [statement_file.pk for statement_file in files]
    with (
        transaction.atomic(),
        pgtrigger.ignore(
            "reconciliation.StatementLine:rows_are_immutable", "reconciliation.StatementFile:statementfile_no_delete"
        ),
    ):
        with connection.cursor() as cursor:
            # Plain SQL: the ORM's delete would load a million rows to look for references first.
            cursor.execute(f'DELETE FROM "{StatementLine._meta.db_table}" WHERE file_id = ANY(%s)', [ids])
        StatementFile.objects.filter(pk__in=ids).delete()
    # The raw files go only once the rows that name them are gone.
    for statement_file in files:
        if statement_file.raw_file.name:
            statement_file.raw_file.storage.delete(statement_file.raw_file.name)
            remove_empty_folders(statement_file.raw_file.storage, statement_file.raw_file.name, top=f"statements/{BENCH_CODE}")
    return len(files)


# --- the intake, measured in a child process --------------------------------------------------------


def _intake_child(pipe: Connection, *, path: str, channel_id: int, statement_date: date, now: datetime) -> None:
    """Runs in a forked child, so ru_maxrss is the intake's own peak (plus the Django process it
    starts from) and not the generator's. Sends back figures, or the failure as text."""
    try:
        tasks_go_nowhere()
        baseline_kb = rss_kb()
        channel = Channel.objects.get(pk=channel_id)
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        with open(path, "rb") as content:
            statement_file = statement_receive(
                channel=channel,
                content=content,
                original_name=Path(path).name,
                source=StatementFile.Source.COMMAND,
                acting_user=None,
                now=now,
                kind=StatementKind.BUSINESS,
                statement_date=statement_date,
            )
        received = time.perf_counter()
        statement_file = statement_parse(statement_file=statement_file, now=now)
        finished = time.perf_counter()
        after = resource.getrusage(resource.RUSAGE_SELF)
        pipe.send(
            {
                "file_id": statement_file.pk,
                "seconds": finished - started,
                "receive_seconds": received - started,
                "parse_seconds": finished - received,
                # Python's share of the work (parsing, encoding, sending); the server's runs beside it.
                "cpu_seconds": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
                "baseline_kb": baseline_kb,
                "peak_kb": after.ru_maxrss,  # kilobytes on Linux
            }
        )
    except StatementRefused as exc:
        pipe.send({"error": f"the intake refused the generated bill: {exc}"})
    except BaseException as exc:  # noqa: B036 - an interrupted child must still answer its parent
        pipe.send({"error": "".join(traceback.format_exception(exc))})
    finally:
        connections.close_all()
        pipe.close()


@dataclass(frozen=True)
class IntakeFigures:
    file_id: int
    seconds: float
    receive_seconds: float
    parse_seconds: float
    cpu_seconds: float
    baseline_mb: float
    peak_mb: float


def intake_measure(*, bill: GeneratedBill, channel: Channel, now: datetime) -> IntakeFigures:
    """Fork a child that takes the bill in through the service, and wait for its figures."""
    # The child must open its own database connections: a socket shared across fork breaks both.
    connections.close_all()
    # Unflushed output would be written twice (the child flushes its copy when it ends).
    sys.stdout.flush()
    sys.stderr.flush()
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(
        target=_intake_child,
        name="bench-intake",
        daemon=True,
        kwargs={
            "pipe": sending,
            "path": str(bill.path),
            "channel_id": channel.pk,
            "statement_date": bill.statement_date,
            "now": now,
        },
    )
    child.start()
    sending.close()  # only the child writes: recv() then sees EOF if the child dies
    try:
        outcome = receiving.recv()
    except EOFError:
        child.join()
        raise BenchmarkFailed(f"the intake process ended without a result (exit code {child.exitcode})") from None
    except BaseException:
        # Interrupted: ending the child closes its socket, and PostgreSQL rolls its transaction back.
        child.terminate()
        child.join()
        raise
    finally:
        receiving.close()
    child.join()
    if "error" in outcome:
        raise BenchmarkFailed(outcome["error"])
    return IntakeFigures(
        file_id=outcome["file_id"],
        seconds=outcome["seconds"],
        receive_seconds=outcome["receive_seconds"],
        parse_seconds=outcome["parse_seconds"],
        cpu_seconds=outcome["cpu_seconds"],
        baseline_mb=outcome["baseline_kb"] / 1024,
        peak_mb=outcome["peak_kb"] / 1024,
    )


def intake_verify(*, bill: GeneratedBill, file_id: int) -> dict:
    """What arrived must be what was generated: status, line count, and per type the count and sum."""
    statement_file = StatementFile.objects.get(pk=file_id)
    if statement_file.status != StatementFile.Status.PARSED or statement_file.line_count != bill.lines:
        raise BenchmarkFailed(
            f"file #{file_id} is {statement_file.status} with {statement_file.line_count} lines; "
            f"expected PARSED with {bill.lines} (errors: {statement_file.errors})"
        )
    by_type = {
        row["line_type"]: row
        for row in StatementLine.objects.filter(file_id=file_id)
        .values("line_type")
        .annotate(count=Count("id"), amount=Sum("amount"), fee=Sum("fee"))
        .order_by("line_type")
    }
    stored_count = sum(row["count"] for row in by_type.values())
    stored_amount = sum((row["amount"] for row in by_type.values()), Decimal("0.00"))
    stored_fee = sum((row["fee"] for row in by_type.values()), Decimal("0.00"))
    problems = []
    if stored_count != bill.lines:
        problems.append(f"{stored_count} rows stored, {bill.lines} generated")
    if stored_amount != bill.amount_total:
        problems.append(f"amounts sum to {stored_amount}, generated {bill.amount_total}")
    if stored_fee != bill.fee_total:
        problems.append(f"fees sum to {stored_fee}, generated {bill.fee_total}")
    for kind, count in bill.count_by_type.items():
        stored = by_type.get(kind, {"count": 0, "amount": Decimal("0.00")})
        if (stored["count"], stored["amount"]) != (count, bill.amount_by_type[kind]):
            problems.append(
                f"{kind}: {stored['count']} rows of {stored['amount']} stored, {count} of {bill.amount_by_type[kind]} generated"
            )
    if problems:
        raise BenchmarkFailed(f"file #{file_id} does not hold the generated bill: {'; '.join(problems)}")
    return {
        "lines": stored_count,
        "amount_total": money_str(stored_amount, "CNY"),
        "fee_total": money_str(stored_fee, "CNY"),
        "count_by_type": {kind: row["count"] for kind, row in by_type.items()},
        "amount_by_type": {kind: money_str(row["amount"], "CNY") for kind, row in by_type.items()},
    }


# --- the references: a bare COPY and django-import-export ----------------------------------------------

# The columns COPY writes, named as the ModelResource knows them (foreign keys by field name).
IMPORT_COLUMNS = tuple(column.removesuffix("_id") for column in statement_copy.LINE_COLUMNS)


class StatementLineResource(resources.ModelResource):
    """The obvious import: a ModelResource over the model's own fields, with the library's defaults
    (an instance, foreign-key lookups and a save per row, inside one transaction)."""

    class Meta:
        model = StatementLine
        fields = ("id", *IMPORT_COLUMNS)


def _local_text(value: datetime | None, tz: ZoneInfo) -> str:
    return "" if value is None else value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _bill_rows(bill: GeneratedBill) -> Iterator[StatementLineRow]:
    """The bill's rows exactly as the intake's parser reads them."""
    with bill.path.open("rb") as stream:
        yield from parsers.parse("WECHAT_TRADE", stream, tz=ZoneInfo(settings.TIME_ZONE), currency="CNY").rows


def _scratch_file(statement_file: StatementFile) -> StatementFile:
    """A second file row like the intake's, for a reference to write into inside a transaction that is
    rolled back. Its new id puts the reference's rows where the intake's went, at the end of the
    (file, line) index, rather than between the intake's own entries."""
    scratch = StatementFile.objects.get(pk=statement_file.pk)
    scratch.pk = None
    scratch.sha256 = hashlib.sha256(f"reference of {statement_file.sha256}".encode()).hexdigest()
    scratch.save()
    return scratch


def copy_floor_measure(*, bill: GeneratedBill, statement_file: StatementFile, copy_path: Path) -> float:
    """Seconds for PostgreSQL to take the same rows by a bare COPY (statement trigger included).

    The rows are encoded first with the intake's own encoder into ``copy_path`` (not timed); only the
    COPY that streams that file is timed. Everything happens in a transaction that is rolled back.
    """
    sql = f'COPY "{StatementLine._meta.db_table}" ({", ".join(statement_copy.LINE_COLUMNS)}) FROM STDIN'
    with transaction.atomic():
        scratch = _scratch_file(statement_file)
        encode = statement_copy.line_encoder(scratch.pk, scratch.channel_id, scratch.statement_date)
        with copy_path.open("w", encoding="utf-8") as out:
            for row in _bill_rows(bill):
                out.write(encode(row))
                out.write("\n")
        checkpoint()
        with connection.cursor() as cursor, copy_path.open("rb") as data:
            started = time.perf_counter()
            with cursor.cursor.copy(sql) as copy:  # psycopg's own cursor under Django's wrapper
                while chunk := data.read(COPY_CHUNK):
                    copy.write(chunk)
            seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


def import_export_measure(*, bill: GeneratedBill, statement_file: StatementFile, lines: int) -> float:
    """Seconds for django-import-export to import the bill's first ``lines`` rows for real
    (dry_run=False) from a Dataset laid out as a clerk's CSV would be (local times, decimal text),
    built first (not timed). The outer transaction is rolled back afterwards, so nothing stays."""
    tz = ZoneInfo(settings.TIME_ZONE)
    with transaction.atomic():
        scratch = _scratch_file(statement_file)
        dataset = tablib.Dataset(headers=list(IMPORT_COLUMNS))
        for row in itertools.islice(_bill_rows(bill), lines):
            dataset.append(
                (
                    scratch.pk,
                    scratch.channel_id,
                    scratch.statement_date.isoformat(),
                    row.source_line,
                    row.channel_txn_no,
                    row.txn_no,
                    str(row.line_type),
                    row.type_code,
                    str(row.status),
                    str(row.amount),
                    str(row.fee),
                    row.currency,
                    _local_text(row.occurred_at, tz),
                    _local_text(row.completed_at, tz),
                    row.refund_no,
                    row.original_channel_txn_no,
                    row.original_txn_no,
                    row.batch_ref,
                    row.raw,
                )
            )
        checkpoint()
        started = time.perf_counter()
        result = StatementLineResource().import_data(dataset, dry_run=False, use_transactions=True, raise_errors=True)
        seconds = time.perf_counter() - started
        imported = StatementLine.objects.filter(file=scratch).count()
        transaction.set_rollback(True)
    new = result.totals.get("new", 0)
    if new != lines or imported != lines or result.has_errors() or result.has_validation_errors():
        raise BenchmarkFailed(f"django-import-export imported {new} of {lines} rows ({imported} found in the database)")
    return seconds


# --- the run ---------------------------------------------------------------------------------------


def speed_figures(*, lines: int, seconds: float, copy_seconds: float, import_lines: int, import_seconds: float | None) -> dict:
    """The timings and what derives from them, each derived figure computed from the unrounded
    timings before anything is rounded for the report."""
    lines_per_s = lines / seconds
    import_per_s = import_lines / import_seconds if import_seconds else None
    return {
        "seconds": round(seconds, 3),
        "lines_per_s": round(lines_per_s),
        "copy_seconds": round(copy_seconds, 3),
        "ratio_vs_copy": round(seconds / copy_seconds, 2),
        "import_export_lines": import_lines,
        "import_export_seconds": round(import_seconds, 3) if import_seconds else None,
        "import_export_lines_per_s": round(import_per_s) if import_per_s else None,
        "speedup_vs_import_export": round(lines_per_s / import_per_s, 1) if import_per_s else None,
    }


def intake_benchmark_run(*, lines: int, import_export_lines: int, keep: bool, now: datetime, report: StageReport) -> dict:
    """Generate, take in, verify, compare, clean up. Returns every figure as plain JSON values."""
    channel = benchmark_channel_get_or_create()
    statement_date = now.astimezone(ZoneInfo(settings.TIME_ZONE)).date() - timedelta(days=1)
    import_export_lines = min(import_export_lines, lines)
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as workdir:
        report(f"generating a WeChat trade bill of {lines:,} lines (not timed)…")
        started = time.perf_counter()
        bill = bill_generate(
            path=Path(workdir) / f"wechat_trade_{statement_date:%Y%m%d}.csv", lines=lines, statement_date=statement_date
        )
        generate_seconds = time.perf_counter() - started
        report(f"  {bill.size / MB:,.1f} MB in {generate_seconds:.1f} s")
        try:
            report("intake: statement_receive + statement_parse in a child process (timed)…")
            checkpointed = checkpoint()
            intake = intake_measure(bill=bill, channel=channel, now=now)
            verified = intake_verify(bill=bill, file_id=intake.file_id)
            report(f"  {intake.seconds:.2f} s, verified: {bill.lines:,} lines summing to {bill.amount_total} CNY")
            statement_file = StatementFile.objects.get(pk=intake.file_id)

            report("bare COPY of the same rows: encoding them (not timed), then the COPY (timed, rolled back)…")
            copy_seconds = copy_floor_measure(bill=bill, statement_file=statement_file, copy_path=Path(workdir) / "rows.copy")
            import_seconds = None
            if import_export_lines:
                report(f"django-import-export, first {import_export_lines:,} rows (timed, rolled back)…")
                import_seconds = import_export_measure(bill=bill, statement_file=statement_file, lines=import_export_lines)
        finally:
            if not keep:
                removed = benchmark_files_remove(channel=channel, sha256=bill.sha256)
                report(f"removed the benchmark's statement file ({removed}), its lines and its raw file")
    return {
        "lines": lines,
        **speed_figures(
            lines=lines,
            seconds=intake.seconds,
            copy_seconds=copy_seconds,
            import_lines=import_export_lines,
            import_seconds=import_seconds,
        ),
        "peak_mb": round(intake.peak_mb, 1),
        "baseline_mb": round(intake.baseline_mb, 1),
        "receive_seconds": round(intake.receive_seconds, 3),
        "parse_seconds": round(intake.parse_seconds, 3),
        "intake_process_cpu_seconds": round(intake.cpu_seconds, 3),
        "file_mb": round(bill.size / MB, 1),
        "generate_seconds": round(generate_seconds, 1),
        "statement_date": statement_date.isoformat(),
        "file_id": intake.file_id,
        "kept": keep,
        "checkpoint_before_each_phase": checkpointed,
        "verified": verified,
        "machine": machine_notes(),
    }
