"""The whole-day benchmark behind ``manage.py bench_day`` (issue 14: a whole day at the speed of the database).

One channel-day end to end, through the paths production takes, each step timed in a forked child (its
own wall time, CPU time and peak memory):

1. our journal (the payment core's CSV) through ``manage.py import_transactions``, called as a command;
2. the channel's WeChat Pay trade bill through the intake service ``import_statement`` uses
   (``statement_receive`` + ``statement_parse``);
3. stage 1, the transaction run of the channel and date (``run_start`` + ``run_execute``, as ``reconcile``);
4. stage 2 the next day: the settlement account's bank statement (MT940) through the same intake, then the
   fund run of that date.

Both files are generated beforehand (not timed) from the intake benchmark's day of one busy merchant
(``intake.bench_rows``), with about 1 % of the transactions carrying a known difference of every stage-1
type. The run must find exactly those (by type and key); stage 2 must see the channel's settlement differ
from what clearing expects by exactly the money those differences move, and the bank charge on the
statement as an unexpected movement. Then the floor is measured in the same run: a bare COPY of both files
into plain tables and one classifying full outer join of them, in a transaction that is rolled back.

Everything is written to a dedicated, inactive channel (``BENCHDAY``, its own bank and reserve account) and
removed before the run and afterwards unless kept.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from random import Random
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.models import Voucher
from backoffice.core.db import sql_str
from reconciliation.devtools.benchmarks.common import (
    BenchmarkFailed,
    StageReport,
    backend_peak_mb,
    channel_data_remove,
    checkpoint,
    in_child,
    machine_notes,
)
from reconciliation.devtools.benchmarks.engine import DIFFERENCE_RATE, FEES_FROM
from reconciliation.devtools.benchmarks.intake import (
    FEE_RATE,
    MB,
    GeneratedBill,
    bench_rows,
    intake_measure,
    intake_verify,
)
from reconciliation.devtools.simulation import INJECTED_TYPES as SIMULATED_TYPES
from reconciliation.models import (
    FUND_TYPES,
    Bank,
    BankAccount,
    BusinessType,
    Channel,
    Discrepancy,
    DiscrepancyType,
    FeeModel,
    FormatCode,
    FundMovement,
    MatchOutcome,
    PlatformTransaction,
    ReconciliationRun,
    RunStage,
    RunStatus,
    RunTrigger,
    StatementFile,
    StatementFormat,
    StatementKind,
    TransactionStatus,
)
from reconciliation.parsers.base import Direction, FundMovementRow, LineStatus, LineType, StatementLineRow
from reconciliation.parsers.writers import write_mt940, write_wechat_trade
from reconciliation.parsers.writers.wechat import WECHAT_TRADE_HEADER, WECHAT_TRADE_SUMMARY
from reconciliation.services.channels.fees import FeeSpec, fee_function
from reconciliation.services.engine.runs import run_date_problem, run_execute, run_start
from reconciliation.services.intake.statements import statement_parse, statement_receive
from reconciliation.services.intake.transactions import JOURNAL_COLUMNS
from reconciliation.services.partitions import PARTITIONED, partitions_ensure

DAY_BENCH_CODE = "BENCHDAY"
RESERVE_ACCOUNT_NO = "BENCHDAY-RESERVE"
# The payment core's journal: its classic columns, and the business order a refund refunds (its retries
# keep it: what the double-payment check compares).
JOURNAL_HEADER = (*JOURNAL_COLUMNS, *(c for c in ("order_no",) if c not in JOURNAL_COLUMNS))
# Every type stage 1 concludes about for single items (batches do not occur in a WeChat bill); the last
# two concern a refund (a payment out) and wait for the day's next refund when their turn falls on a payment.
INJECTED_TYPES = (*SIMULATED_TYPES, DiscrepancyType.BOTH_PENDING)
REFUND_ONLY = frozenset({DiscrepancyType.DOUBLE_PAYMENT_RISK, DiscrepancyType.BOTH_PENDING})
FEE_OFF_BY = Decimal("0.05")
AMOUNT_OFF_BY = Decimal("1.00")
RETRY_AFTER = timedelta(seconds=30)
# The settlement account's statement also carries the bank's monthly charge: stage 2's unexpected movement.
BANK_CHARGE = Decimal("12.00")
OPENING_BALANCE = Decimal("1000000.00")
STEPS = ("import_transactions", "import_statement", "stage1", "stage2")
TARGET_SECONDS, TARGET_FLOOR_RATIO, TARGET_STAGE1_FLOOR_RATIO = 20, 4, 1.5
COPY_CHUNK = 1 << 20
ZERO = Decimal("0.00")
_fee = fee_function(FeeSpec.flat_rate(FEE_RATE))


# --- the channel ---------------------------------------------------------------------------------------


def day_channel_get_or_create() -> tuple[Channel, BankAccount]:
    """The dedicated channel: WeChat (matched by our order number, which WeChat echoes), CNY, 0.6 % on
    payments and returned on refunds, deducted from a T+1 settlement into its reserve account, whose bank
    statements (MT940) are its fund statements. Inactive: no schedule runs it, no parsed file starts a run."""
    bank, _ = Bank.objects.get_or_create(code=DAY_BENCH_CODE, defaults={"name": "Whole-day benchmark bank (synthetic data)"})
    reserve, _ = BankAccount.objects.get_or_create(
        bank=bank,
        account_no=RESERVE_ACCOUNT_NO,
        defaults={"kind": BankAccount.Kind.RESERVE, "account_name": "Whole-day benchmark reserve account", "currency": "CNY"},
    )
    channel, _ = Channel.objects.get_or_create(
        code=DAY_BENCH_CODE,
        defaults={
            "name": "Whole-day benchmark (synthetic data)",
            "bank": bank,
            "kind": Channel.Kind.WECHAT,
            "currency": "CNY",
            "match_key": Channel.MatchKey.TXN_NO,
            "settlement_account": reserve,
            "settlement_cycle": Channel.SettlementCycle.T1,
            "calendar": Channel.Calendar.EVERY_DAY,
            "is_active": False,
        },
    )
    settings_found = (channel.kind, channel.currency, channel.match_key, channel.settlement_account_id, channel.settlement_cycle)
    wanted = (Channel.Kind.WECHAT, "CNY", Channel.MatchKey.TXN_NO, reserve.pk, Channel.SettlementCycle.T1)
    if settings_found != wanted or channel.calendar != Channel.Calendar.EVERY_DAY or channel.is_active:
        raise BenchmarkFailed(
            f"channel {DAY_BENCH_CODE} exists but is not the benchmark's (an inactive WeChat CNY channel matched by our "
            f"order number, settling T+1 every day into {RESERVE_ACCOUNT_NO}): rename that channel's code"
        )
    for business_type in (BusinessType.COLLECTION, BusinessType.REFUND):
        FeeModel.objects.get_or_create(
            channel=channel, business_type=business_type, valid_from=FEES_FROM, defaults={"rate": FEE_RATE}
        )
    fund_format, _ = StatementFormat.objects.get_or_create(
        channel=channel,
        kind=StatementKind.FUND,
        is_default=True,
        defaults={"format_code": FormatCode.MT940, "name": "Reserve account statement (MT940)"},
    )
    if fund_format.format_code != FormatCode.MT940:
        raise BenchmarkFailed(f"channel {DAY_BENCH_CODE}'s fund statements are {fund_format.format_code}, not MT940")
    return channel, reserve


# --- the day's files -------------------------------------------------------------------------------------


@dataclass
class GeneratedDay:
    """What was written, to check what the steps make of it. Amounts are Decimal, in CNY."""

    business_date: date
    settlement_date: date
    journal: Path
    bill: GeneratedBill
    fund_statement: Path
    journal_size: int = 0
    records: int = 0
    record_count_by_type: Counter = field(default_factory=Counter)
    record_amount_by_type: dict[str, Decimal] = field(default_factory=dict)
    # (discrepancy type, match key) of every injected difference: what stage 1 must find, exactly.
    injected: set[tuple[str, str]] = field(default_factory=set)
    # What clearing must expect to settle: our successful records (not those the channel lacks), less the
    # fee our model expects; and what the channel settles: its successful transactions, less its fees.
    expected_net: Decimal = ZERO
    channel_net: Decimal = ZERO


def _signed(line_type: LineType) -> int:
    return 1 if line_type is LineType.COLLECTION else -1


def day_generate(*, workdir: Path, lines: int, business_date: date, seed: int, token: int) -> GeneratedDay:
    """Write our journal, the channel's trade bill (from ``lines`` transactions of the intake benchmark's
    merchant) and the settlement account's statement of the next day; differences injected on about
    DIFFERENCE_RATE of the transactions, every type in turn. Streamed: memory stays flat."""
    tz = ZoneInfo(settings.TIME_ZONE)
    stamp = f"{business_date:%Y%m%d}"
    settlement_date = business_date + timedelta(days=1)
    day = GeneratedDay(
        business_date=business_date,
        settlement_date=settlement_date,
        journal=workdir / f"journal_{stamp}.csv",
        bill=GeneratedBill(path=workdir / f"wechat_trade_{stamp}.csv", statement_date=business_date),
        fund_statement=workdir / f"reserve_{settlement_date:%Y%m%d}.sta",
    )
    bill = day.bill
    bill.count_by_type = {str(t): 0 for t in (LineType.COLLECTION, LineType.REFUND)}
    bill.amount_by_type = {str(t): ZERO for t in (LineType.COLLECTION, LineType.REFUND)}
    day.record_amount_by_type = {str(t): ZERO for t in (BusinessType.COLLECTION, BusinessType.REFUND)}
    every = round(1 / DIFFERENCE_RATE)
    rng = Random(seed)
    end_of_day = datetime(business_date.year, business_date.month, business_date.day, tzinfo=tz) + timedelta(days=1)

    def in_slot(i: int) -> bool:
        return i % every == every - 1

    with day.journal.open("w", encoding="utf-8", newline="") as journal_file, bill.path.open("wb") as bill_file:
        journal = csv.writer(journal_file, lineterminator="\n")
        journal.writerow(JOURNAL_HEADER)

        def record(
            row: StatementLineRow,
            *,
            status: str = TransactionStatus.SUCCESS,
            amount: Decimal | None = None,
            listed: bool = True,
        ) -> None:
            """Our record of the channel's transaction ``row``: what the payment core knows of it. ``listed``:
            the channel lists it (clearing does not expect the channel to settle what it does not list)."""
            amount = row.amount if amount is None else amount
            business_type = BusinessType.REFUND if row.line_type is LineType.REFUND else BusinessType.COLLECTION
            succeeded = status == TransactionStatus.SUCCESS
            fee = _fee(amount) if business_type == BusinessType.COLLECTION else ZERO - _fee(amount)  # never -0.00
            values = {
                "txn_no": row.txn_no,
                "channel": DAY_BENCH_CODE,
                "channel_txn_no": row.channel_txn_no if succeeded else "",  # a timeout or failure never got one
                "business_type": business_type,
                "amount": amount,
                "currency": "CNY",
                "fee": fee if succeeded else "",
                "status": status,
                "created_at": row.occurred_at.isoformat(" "),
                "completed_at": row.occurred_at.isoformat(" ") if status in ("SUCCESS", "FAILED") else "",
                "business_date": business_date.isoformat(),
                "original_txn_no": row.original_txn_no,
                "order_no": row.original_txn_no,  # a refund's business order: the order it refunds
            }
            journal.writerow([values.get(column, "") for column in JOURNAL_HEADER])
            day.records += 1
            day.record_count_by_type[str(business_type)] += 1
            day.record_amount_by_type[str(business_type)] += amount
            if succeeded and listed:
                day.expected_net += _signed(row.line_type) * amount - fee

        def line(row: StatementLineRow, *, settles: bool = True) -> StatementLineRow:
            """The channel's line; ``settles``: the channel pays it out (a line listed twice is paid once)."""
            kind = str(row.line_type)
            bill.lines += 1
            bill.count_by_type[kind] += 1
            bill.amount_by_type[kind] += row.amount
            bill.fee_total += row.fee
            if settles and row.status is LineStatus.SUCCESS:
                day.channel_net += _signed(row.line_type) * row.amount - row.fee
            return row

        def injected_rows() -> Iterator[StatementLineRow]:
            source = bench_rows(
                lines=lines,
                statement_date=business_date,
                tz=tz,
                token=token,
                bill=GeneratedBill(path=bill.path, statement_date=business_date),  # its own totals: unused
                seed=seed,
                refundable=lambda i: not in_slot(i),  # a payment with a difference is never refunded
            )
            waiting: deque[str] = deque()  # refund-only differences due on the next refund
            for i, row in enumerate(source):
                refund = row.line_type is LineType.REFUND
                kind = INJECTED_TYPES[(i // every) % len(INJECTED_TYPES)] if in_slot(i) else None
                if kind in REFUND_ONLY and not refund:
                    waiting.append(kind)
                    kind = None
                elif kind is None and refund and waiting:
                    kind = waiting.popleft()
                if kind == DiscrepancyType.DOUBLE_PAYMENT_RISK and row.occurred_at + RETRY_AFTER >= end_of_day:
                    kind = None  # no time left in the day for the retry
                if kind is not None:
                    day.injected.add((str(kind), row.txn_no))
                yield from _with_difference(kind, row, record=record, line=line, rng=rng)

        write_wechat_trade(injected_rows(), bill_file, tz=tz)
    bill.size, day.journal_size = bill.path.stat().st_size, day.journal.stat().st_size
    _fund_statement_write(day, token=token)
    return day


def _with_difference(kind: str | None, row: StatementLineRow, *, record, line, rng: Random) -> Iterator[StatementLineRow]:
    """Record ``row`` on our side and yield the channel's line(s), carrying the difference ``kind``."""
    T, S = DiscrepancyType, TransactionStatus
    if kind is None:
        record(row)
        yield line(row)
    elif kind == T.BANK_ONLY:  # the channel has it, we do not: money we did not book (长款 for a payment)
        yield line(row)
    elif kind == T.PLATFORM_ONLY:  # we have it, the channel does not (短款 for a payment)
        record(row, listed=False)
    elif kind == T.STATUS_MISMATCH:  # the channel succeeded, we timed out, are still waiting, or failed
        record(row, status=rng.choice([S.UNKNOWN, S.PROCESSING, S.FAILED]))
        yield line(row)
    elif kind == T.AMOUNT_MISMATCH:
        record(row, amount=row.amount + AMOUNT_OFF_BY)
        yield line(row)
    elif kind == T.FEE_MISMATCH:  # the channel charged (or returned) 0.05 more than our fee model
        record(row)
        yield line(row._replace(fee=row.fee + _signed(row.line_type) * FEE_OFF_BY))
    elif kind == T.DUPLICATE:  # the channel lists it twice
        record(row)
        yield line(row)
        yield line(row, settles=False)
    elif kind == T.DOUBLE_PAYMENT_RISK:
        # A refund we saw fail (a timeout turned failure) that WeChat made, then made again for our retry.
        record(row, status=S.FAILED)
        yield line(row)
        serial = "50301" + row.channel_txn_no[5:]
        retry = row._replace(
            txn_no=f"{row.txn_no}R", channel_txn_no=serial, refund_no=serial, occurred_at=row.occurred_at + RETRY_AFTER
        )
        record(retry)
        yield line(retry)
    elif kind == T.BOTH_PENDING:  # a refund still processing on both sides
        record(row, status=S.PROCESSING)
        yield line(row._replace(status=LineStatus.PROCESSING))
    else:
        raise ValueError(f"no way to inject {kind}")


def _fund_statement_write(day: GeneratedDay, *, token: int) -> None:
    """The reserve account's MT940 of the settlement date: the channel's T+1 settlement of the business date
    (what its bill settles), and the bank's monthly account charge."""
    stamp = f"{day.business_date:%Y%m%d}"
    on = day.settlement_date
    movements = [
        FundMovementRow(
            0, RESERVE_ACCOUNT_NO, on, None, on, Direction.CREDIT if day.channel_net > 0 else Direction.DEBIT,
            abs(day.channel_net), None, "CNY", counterparty_name="TENPAY PAYMENT TECHNOLOGY",
            memo=f"WECHAT PAY SETTLEMENT {stamp}", bank_ref=f"STL{stamp}{token:05d}",
        ),
        FundMovementRow(
            0, RESERVE_ACCOUNT_NO, on, None, on, Direction.DEBIT, BANK_CHARGE, None, "CNY",
            counterparty_name="WHOLE-DAY BENCHMARK BANK", memo="ACCOUNT MAINTENANCE FEE", bank_ref=f"CHG{token:05d}",
        ),
    ]  # fmt: skip
    with day.fund_statement.open("wb") as out:
        write_mt940(
            movements,
            out,
            account_ref=RESERVE_ACCOUNT_NO,
            currency="CNY",
            opening_balance=OPENING_BALANCE,
            opening_date=on,
            reference=f"BENCHDAY{token:05d}",
        )


# --- the steps, each in a child process ------------------------------------------------------------------


def _journal_import(path: Path) -> dict:
    """Exactly what an operator runs: the command, with its JSON answer."""
    out = io.StringIO()
    call_command("import_transactions", str(path), "--json", stdout=out)
    return {"answer": json.loads(out.getvalue().strip().splitlines()[-1])}


def _stage1(run_id: int, now: datetime) -> dict:
    run = run_execute(run=ReconciliationRun.objects.get(pk=run_id), now=now)
    return {"run_id": run.pk, "status": run.status, "run_error": run.error[:2000], "backend_peak_mb": backend_peak_mb()}


def _stage2(*, channel_id: int, reserve_id: int, day: GeneratedDay, now: datetime) -> dict:
    """The settlement date's bank statement through the intake, then the fund run of that date."""
    channel = Channel.objects.get(pk=channel_id)
    started = time.perf_counter()
    with day.fund_statement.open("rb") as content:
        statement_file = statement_receive(
            channel=channel,
            content=content,
            original_name=day.fund_statement.name,
            source=StatementFile.Source.COMMAND,
            acting_user=None,
            now=now,
            kind=StatementKind.FUND,
            statement_date=day.settlement_date,
            bank_account=BankAccount.objects.get(pk=reserve_id),
        )
    statement_file = statement_parse(statement_file=statement_file, now=now)
    imported = time.perf_counter()
    run = run_start(
        channel=channel,
        business_date=day.settlement_date,
        trigger=RunTrigger.COMMAND,
        now=now,
        execute=False,
        stage=RunStage.FUND,
    )
    run = run_execute(run=run, now=now)
    return {
        "fund_file_id": statement_file.pk,
        "fund_import_seconds": imported - started,
        "fund_run_seconds": time.perf_counter() - imported,
        "run_id": run.pk,
        "status": run.status,
        "run_error": run.error[:2000],
        "backend_peak_mb": backend_peak_mb(),
    }


# --- what must have come of it ----------------------------------------------------------------------------


def journal_verify(*, channel: Channel, day: GeneratedDay, answer: dict) -> dict:
    """Every record of the journal is in, once, with its amount."""
    stored = {
        row["business_type"]: row
        for row in PlatformTransaction.objects.filter(channel=channel, business_date=day.business_date)
        .values("business_type")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by("business_type")
    }
    count = sum(row["count"] for row in stored.values())
    problems = []
    if answer.get("status") != "IMPORTED":
        problems.append(f"the command answered {answer}")
    if "created" in answer and answer["created"] != day.records:
        problems.append(f"the command created {answer['created']:,} records")
    for business_type, generated in day.record_count_by_type.items():
        found = stored.get(business_type, {"count": 0, "amount": ZERO})
        if (found["count"], found["amount"]) != (generated, day.record_amount_by_type[business_type]):
            problems.append(
                f"{business_type}: {found['count']:,} records of {found['amount']} stored, "
                f"{generated:,} of {day.record_amount_by_type[business_type]} in the journal"
            )
    if count != day.records or problems:
        raise BenchmarkFailed(
            f"the journal's {day.records:,} records did not arrive intact ({count:,} stored): {'; '.join(problems)}"
        )
    return {"records": count, "count_by_type": {k: v["count"] for k, v in stored.items()}}


def stage1_verify(*, channel: Channel, day: GeneratedDay, run_id: int) -> dict:
    """The run succeeded and found exactly the injected differences: nothing missed, nothing extra."""
    run = ReconciliationRun.objects.get(pk=run_id)
    if run.status != RunStatus.SUCCEEDED:
        raise BenchmarkFailed(f"stage 1, run #{run.pk} ended {run.status}: {run.error[:500]}")
    found = set(
        Discrepancy.objects.filter(channel=channel, business_date=day.business_date)
        .exclude(type__in=FUND_TYPES)
        .values_list("type", "match_key")
    )
    missing, extra = day.injected - found, found - day.injected
    if missing or extra:
        raise BenchmarkFailed(
            f"stage 1, run #{run.pk} found {len(found):,} differences against {len(day.injected):,} injected: "
            f"{len(missing):,} missed (e.g. {sorted(missing)[:3]}), {len(extra):,} not injected (e.g. {sorted(extra)[:3]})"
        )
    return {
        "run_id": run.pk,
        "found": len(found),
        "found_by_type": dict(sorted(Counter(kind for kind, _key in found).items())),
        "overage": run.counts.get("overage"),
        "shortage": run.counts.get("shortage"),
    }


def stage2_verify(*, channel: Channel, day: GeneratedDay, run_id: int, fund_file_id: int) -> dict:
    """The bank statement is in, the fund run succeeded, and it concluded what the day implies: the channel's
    settlement against clearing's expectation (differing by the money of stage 1's differences, if any) and
    the bank's charge as an unexpected movement; the settlement posted to the books."""
    run = ReconciliationRun.objects.get(pk=run_id)
    statement_file = StatementFile.objects.get(pk=fund_file_id)
    if statement_file.status != StatementFile.Status.PARSED or statement_file.line_count != 2:
        raise BenchmarkFailed(
            f"the bank statement #{statement_file.pk} is {statement_file.status} with {statement_file.line_count} "
            f"movements, expected PARSED with 2 (errors: {statement_file.errors})"
        )
    if run.status != RunStatus.SUCCEEDED:
        raise BenchmarkFailed(f"stage 2, run #{run.pk} ended {run.status}: {run.error[:500]}")
    movements = {m.bank_ref[:3]: m for m in FundMovement.objects.filter(file=statement_file).order_by("line_no")}
    settlement, charge = movements.get("STL"), movements.get("CHG")
    if settlement is None or charge is None or (settlement.amount, charge.amount) != (abs(day.channel_net), BANK_CHARGE):
        raise BenchmarkFailed(
            f"the bank statement #{statement_file.pk} holds {[(m.bank_ref, m.amount) for m in movements.values()]}; "
            f"generated a settlement of {abs(day.channel_net)} and a charge of {BANK_CHARGE}"
        )
    expected = {(str(DiscrepancyType.UNEXPECTED_MOVEMENT), f"MOVE:{charge.pk}", -BANK_CHARGE, None)}
    if day.channel_net != day.expected_net:  # the channel settles its bill, clearing expects our confirmed records
        key = f"SETTLE:{day.business_date.isoformat()}:1"
        difference = day.channel_net - day.expected_net
        expected.add((str(DiscrepancyType.SETTLEMENT_AMOUNT_MISMATCH), key, difference, day.expected_net))
    found = set(
        Discrepancy.objects.filter(channel=channel, type__in=FUND_TYPES).values_list(
            "type", "match_key", "effect", "platform_amount"
        )
    )
    posted = Voucher.objects.filter(source_key=f"fund:{settlement.pk}", status=Voucher.Status.POSTED).exists()
    if found != expected or not posted:
        raise BenchmarkFailed(
            f"stage 2, run #{run.pk} concluded {sorted(found, key=str)}, expected {sorted(expected, key=str)}"
            + ("" if posted else "; the settlement was not posted")
        )
    return {
        "run_id": run.pk,
        "found": len(found),
        "expected_settlement": str(day.expected_net),
        "channel_settlement": str(day.channel_net),
        "settlement_difference": str(day.channel_net - day.expected_net),
        "outcomes": {outcome: row["count"] for outcome, row in run.counts.get("outcomes", {}).items()},
    }


# --- the floor ------------------------------------------------------------------------------------------

# The bill's columns, in its order (WECHAT_TRADE_HEADER), as bare-table columns; the amounts typed.
BILL_COLUMNS = (
    ("trade_time", "timestamptz"), ("appid", "text"), ("mch_id", "text"), ("sub_mch_id", "text"), ("device", "text"),
    ("wx_order_no", "text"), ("order_no", "text"), ("openid", "text"), ("trade_type", "text"), ("trade_state", "text"),
    ("payer_bank", "text"), ("currency", "text"), ("settle_amount", "numeric"), ("coupon_amount", "numeric"),
    ("wx_refund_no", "text"), ("refund_no", "text"), ("refund_amount", "numeric"), ("coupon_refund_amount", "numeric"),
    ("refund_type", "text"), ("refund_status", "text"), ("product", "text"), ("attach", "text"), ("fee", "numeric"),
    ("fee_rate", "text"), ("order_amount", "numeric"), ("refund_request_amount", "numeric"), ("fee_note", "text"),
)  # fmt: skip
JOURNAL_TYPES = {
    "amount": "numeric",
    "fee": "numeric",
    "created_at": "timestamptz",
    "completed_at": "timestamptz",
    "business_date": "date",
}
FLOOR_JOURNAL, FLOOR_BILL = "bench_day_floor_journal", "bench_day_floor_bill"
# 交易状态 of a refund row in a WeChat Pay trade bill (the channel's word, not one of our enums).
WECHAT_REFUND_STATE = "REFUND"
# One pass over the full outer join of both sides on our order number (the channel's key), classifying each pair.
FLOOR_SQL = f"""
    SELECT outcome, count(*) FROM (
        SELECT CASE WHEN p.txn_no IS NULL THEN {sql_str(DiscrepancyType.BANK_ONLY)}
                    WHEN l.k IS NULL THEN {sql_str(DiscrepancyType.PLATFORM_ONLY)}
                    WHEN p.status <> l.status THEN {sql_str(DiscrepancyType.STATUS_MISMATCH)}
                    WHEN p.amount <> l.amount THEN {sql_str(DiscrepancyType.AMOUNT_MISMATCH)}
                    WHEN p.fee IS DISTINCT FROM l.fee THEN {sql_str(DiscrepancyType.FEE_MISMATCH)}
                    ELSE {sql_str(MatchOutcome.MATCHED)} END AS outcome
        FROM {FLOOR_JOURNAL} p
        FULL JOIN (
            SELECT CASE WHEN trade_state = {sql_str(WECHAT_REFUND_STATE)} THEN refund_no ELSE order_no END AS k,
                   CASE WHEN trade_state = {sql_str(WECHAT_REFUND_STATE)} THEN refund_amount ELSE settle_amount END AS amount,
                   CASE WHEN trade_state = {sql_str(WECHAT_REFUND_STATE)} THEN refund_status ELSE trade_state END AS status,
                   fee
            FROM {FLOOR_BILL}
        ) l ON l.k = p.txn_no
    ) pairs
    GROUP BY outcome
"""


def bill_strip(source: Path, target: Path) -> int:
    """The bill's rows as plain CSV (not timed): without the header, the summary and the backtick WeChat puts
    before every value so spreadsheets keep long numbers as text. Returns the rows written."""
    if len(WECHAT_TRADE_HEADER) != len(BILL_COLUMNS):
        raise BenchmarkFailed(f"the WeChat bill has {len(WECHAT_TRADE_HEADER)} columns; the floor knows {len(BILL_COLUMNS)}")
    rows = 0
    with source.open(encoding="utf-8", newline="") as bill, target.open("w", encoding="utf-8", newline="") as out:
        reader, writer = csv.reader(bill), csv.writer(out, lineterminator="\n")
        next(reader)
        for row in reader:
            if row and row[0] == WECHAT_TRADE_SUMMARY[0]:
                break
            writer.writerow([value[1:] if value.startswith("`") else value for value in row])
            rows += 1
    return rows


def _copy(cursor, sql: str, path: Path) -> float:
    with path.open("rb") as data:
        started = time.perf_counter()
        with cursor.cursor.copy(sql) as copy:  # psycopg's own cursor under Django's wrapper
            while chunk := data.read(COPY_CHUNK):
                copy.write(chunk)
        return time.perf_counter() - started


def floor_measure(*, day: GeneratedDay, workdir: Path) -> dict:
    """The same run's floor: COPY of both files into bare tables (typed columns, no index, no constraint) and
    one classifying full outer join of them, timed, in a transaction that is rolled back. The join gets the
    engine's own memory and JIT settings."""
    stripped = workdir / "bill.floor.csv"
    bill_strip(day.bill.path, stripped)
    journal_columns = ", ".join(f"{name} {JOURNAL_TYPES.get(name, 'text')}" for name in JOURNAL_HEADER)
    checkpointed = checkpoint()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {FLOOR_JOURNAL} ({journal_columns})")
        cursor.execute(f"CREATE TABLE {FLOOR_BILL} ({', '.join(f'{n} {t}' for n, t in BILL_COLUMNS)})")
        copy_journal = _copy(cursor, f"COPY {FLOOR_JOURNAL} FROM STDIN WITH (FORMAT csv, HEADER true)", day.journal)
        copy_bill = _copy(cursor, f"COPY {FLOOR_BILL} FROM STDIN WITH (FORMAT csv)", stripped)
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(f"SET LOCAL work_mem = '{settings.RECONCILE_WORK_MEM}'")
        started = time.perf_counter()
        cursor.execute(FLOOR_SQL)
        outcomes = dict(cursor.fetchall())
        join = time.perf_counter() - started
        transaction.set_rollback(True)
    injected = Counter(kind for kind, _key in day.injected)
    for kind in (DiscrepancyType.BANK_ONLY, DiscrepancyType.PLATFORM_ONLY):
        if outcomes.get(str(kind), 0) != injected[str(kind)]:
            raise BenchmarkFailed(f"the floor's join found {outcomes.get(str(kind), 0)} {kind}, {injected[str(kind)]} injected")
    return {
        "seconds": copy_journal + copy_bill + join,
        "copy_journal_seconds": copy_journal,
        "copy_bill_seconds": copy_bill,
        "join_seconds": join,
        "outcomes": dict(sorted(outcomes.items())),
        "checkpointed": checkpointed,
    }


# --- the command's whole run -------------------------------------------------------------------------------


def day_figures(*, steps: dict[str, dict], floor: dict) -> dict:
    """Totals and ratios, computed from the unrounded timings before anything is rounded for the report."""
    total = sum(step["seconds"] for step in steps.values())
    core = sum(steps[name]["seconds"] for name in STEPS[:3])
    return {
        "total_seconds": round(total, 3),
        "imports_and_stage1_seconds": round(core, 3),
        "floor_seconds": round(floor["seconds"], 3),
        "ratio_vs_floor": round(core / floor["seconds"], 2),
        "ratio_all_steps_vs_floor": round(total / floor["seconds"], 2),
        "stage1_ratio_vs_floor": round(steps["stage1"]["seconds"] / floor["seconds"], 2),
    }


def _step_json(figures: dict) -> dict:
    plain = {}
    for name, value in figures.items():
        if isinstance(value, float):
            value = round(value, 3 if name.endswith("seconds") else 1)
        plain[name] = value
    return plain


def day_benchmark_run(*, lines: int, seed: int, keep: bool, now: datetime, report: StageReport) -> dict:
    """Generate, run the four steps, verify, measure the floor, clean up. Returns every figure as plain JSON."""
    channel, reserve = day_channel_get_or_create()
    removed = channel_data_remove(channel=channel)
    if removed:
        report(f"removed {removed:,} rows left by an earlier kept run")
    today = timezone.localdate(now)
    business_date = today - timedelta(days=2)  # its settlement (T+1) was yesterday: both dates a clerk could run
    for run_date in (business_date, business_date + timedelta(days=1)):
        problem = run_date_problem(run_date, today=today, channel=channel)
        if problem:
            raise BenchmarkFailed(problem)
    # The day's partitions, as the housekeeping beat has made them by then (not timed).
    for model in PARTITIONED:
        partitions_ensure(model, [business_date + timedelta(days=n) for n in (-1, 0, 1, 2)])
    steps: dict[str, dict] = {}
    checkpoints = True
    with tempfile.TemporaryDirectory(prefix="bench-day-") as folder:
        workdir = Path(folder)
        try:
            report(f"generating our journal, the WeChat bill of {lines:,} transactions and the bank statement (not timed)…")
            started = time.perf_counter()
            day = day_generate(
                workdir=workdir, lines=lines, business_date=business_date, seed=seed, token=secrets.randbelow(100_000)
            )
            generate_seconds = time.perf_counter() - started
            report(
                f"  {day.records:,} records ({day.journal_size / MB:,.1f} MB), {day.bill.lines:,} bill lines "
                f"({day.bill.size / MB:,.1f} MB), {len(day.injected):,} injected differences in {generate_seconds:.1f} s"
            )

            report("1/4 import_transactions (the command, timed)…")
            checkpoints &= checkpoint()
            steps["import_transactions"] = in_child(lambda: _journal_import(day.journal), name="bench-day-journal")
            verified = {"journal": journal_verify(channel=channel, day=day, answer=steps["import_transactions"]["answer"])}
            report(f"  {steps['import_transactions']['seconds']:.2f} s, {day.records:,} records verified")

            report("2/4 the WeChat bill: statement_receive + statement_parse (timed)…")
            checkpoints &= checkpoint()
            intake = intake_measure(bill=day.bill, channel=channel, now=now)
            steps["import_statement"] = {
                "seconds": intake.seconds,
                "receive_seconds": intake.receive_seconds,
                "parse_seconds": intake.parse_seconds,
                "cpu_seconds": intake.cpu_seconds,
                "peak_mb": intake.peak_mb,
                "baseline_mb": intake.baseline_mb,
                "file_id": intake.file_id,
            }
            verified["statement"] = intake_verify(bill=day.bill, file_id=intake.file_id)
            report(f"  {intake.seconds:.2f} s, {day.bill.lines:,} lines verified")

            report("3/4 stage 1: run_execute of the channel and date (timed)…")
            checkpoints &= checkpoint()
            run = run_start(channel=channel, business_date=business_date, trigger=RunTrigger.COMMAND, now=now, execute=False)
            steps["stage1"] = in_child(lambda: _stage1(run.pk, now), name="bench-day-stage1")
            verified["stage1"] = stage1_verify(channel=channel, day=day, run_id=run.pk)
            report(f"  {steps['stage1']['seconds']:.2f} s, found exactly the {len(day.injected):,} injected differences")

            report("4/4 stage 2: the bank statement, then the fund run of the settlement date (timed)…")
            checkpoints &= checkpoint()
            steps["stage2"] = in_child(
                lambda: _stage2(channel_id=channel.pk, reserve_id=reserve.pk, day=day, now=now), name="bench-day-stage2"
            )
            verified["stage2"] = stage2_verify(
                channel=channel, day=day, run_id=steps["stage2"]["run_id"], fund_file_id=steps["stage2"]["fund_file_id"]
            )
            report(
                f"  {steps['stage2']['seconds']:.2f} s; settlement {day.channel_net} CNY against {day.expected_net} CNY "
                f"expected, and the bank charge, as they should"
            )

            report("the floor: COPY of both files into bare tables and one classifying join (timed, rolled back)…")
            floor = floor_measure(day=day, workdir=workdir)
            report(f"  {floor['seconds']:.2f} s")
        finally:
            if not keep:
                channel_data_remove(channel=channel)
                report("removed the benchmark's records, files, runs, discrepancies and vouchers")
    injected_by_type = Counter(kind for kind, _key in day.injected)
    return {
        "lines": lines,
        "seed": seed,
        "business_date": business_date.isoformat(),
        "settlement_date": day.settlement_date.isoformat(),
        "generated": {
            "records": day.records,
            "bill_lines": day.bill.lines,
            "journal_mb": round(day.journal_size / MB, 1),
            "bill_mb": round(day.bill.size / MB, 1),
            "injected": len(day.injected),
            "injected_by_type": dict(sorted(injected_by_type.items())),
            "generate_seconds": round(generate_seconds, 1),
        },
        "steps": {name: _step_json({k: v for k, v in steps[name].items() if k != "answer"}) for name in STEPS},
        **day_figures(steps=steps, floor=floor),
        "floor": _step_json(floor),
        "verified": verified,
        "targets": {"seconds": TARGET_SECONDS, "ratio_vs_floor": TARGET_FLOOR_RATIO, "stage1_ratio": TARGET_STAGE1_FLOOR_RATIO},
        "checkpoint_before_each_step": checkpoints and floor["checkpointed"],
        "kept": keep,
        "machine": machine_notes(),
    }
