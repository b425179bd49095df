"""Simulated business days with known, injected differences: the ground truth for the engine's
property test and for ``bench_reconcile``.

A day holds N of our transactions and the channel's lines for them (matched by our order number, as
WeChat and Alipay echo it), then differences of every type injected at a given rate. Rows are written
with PostgreSQL COPY (the benchmark needs millions); statement lines belong to a PARSED statement file.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from reconciliation.models import Channel, DiscrepancyType, PlatformTransaction, StatementFile, StatementLine
from reconciliation.parsers.base import LineStatus, LineType, StatementLineRow
from reconciliation.services.channels.fees import FeeSpec, fee_function
from reconciliation.services.intake import pgcopy as statement_copy

SHANGHAI = ZoneInfo("Asia/Shanghai")
INJECTED_TYPES = (
    DiscrepancyType.BANK_ONLY,
    DiscrepancyType.PLATFORM_ONLY,
    DiscrepancyType.STATUS_MISMATCH,
    DiscrepancyType.AMOUNT_MISMATCH,
    DiscrepancyType.FEE_MISMATCH,
    DiscrepancyType.DUPLICATE,
    DiscrepancyType.DOUBLE_PAYMENT_RISK,
)
TXN_COLUMNS = (
    "txn_no",
    "channel_id",
    "channel_txn_no",
    "business_type",
    "batch_no",
    "amount",
    "currency",
    "fee",
    "status",
    "created_at",
    "completed_at",
    "business_date",
    "counterparty_account",
    "counterparty_name",
    "received_at",
    "updated_at",
)


@dataclass
class SimulatedDay:
    channel: Channel
    business_date: date
    transactions: int = 0
    lines: int = 0
    # (discrepancy type, match key) of every injected difference: what the engine must find, exactly.
    injected: set[tuple[str, str]] = field(default_factory=set)
    statement_file: StatementFile | None = None


class _Writer:
    """Accumulates our transactions and the channel's lines as COPY text."""

    def __init__(self, channel: Channel, day: date, now: datetime, file_id: int):
        self.channel, self.day, self.now = channel, day, now
        self.txns: list[str] = []
        self.lines: list[StatementLineRow] = []
        self.encode = statement_copy.line_encoder(file_id, channel.pk, day)

    def txn(self, txn_no, serial, business_type, amount, status, at, *, payee="", fee=None):
        done = at if status in ("SUCCESS", "FAILED") else None
        values = (
            txn_no,
            self.channel.pk,
            serial,
            business_type,
            "",
            amount,
            self.channel.currency,
            fee,
            status,
            at,
            done,
            self.day,
            payee,
            "",
            self.now,
            self.now,
        )
        self.txns.append("\t".join(r"\N" if v is None else str(v) for v in values))

    def line(self, txn_no, serial, line_type, amount, fee, status, at):
        self.lines.append(
            StatementLineRow(
                len(self.lines) + 2,
                serial,
                txn_no,
                line_type,
                status,
                amount,
                fee,
                self.channel.currency,
                at,
                at,
                raw=f"{serial},{txn_no},{amount},{fee}",
            )
        )


def simulate_day(
    *,
    channel: Channel,
    business_date: date,
    count: int,
    difference_rate: float,
    seed: int,
    fee_rate: Decimal = Decimal("0.006"),
    payout_fee: Decimal = Decimal("2.00"),
) -> SimulatedDay:
    """Write ``count`` transactions and their lines for ``business_date``; about ``difference_rate`` of
    them carry an injected difference, spread evenly over every type. The channel must match by our
    order number, charge ``fee_rate`` (half-up) on collections and a fixed ``payout_fee`` on payouts,
    and have an amount tolerance below 0.01."""
    rng = random.Random(seed)
    fee_of = fee_function(FeeSpec.flat_rate(fee_rate, channel.currency))
    now = timezone.now()
    stamp = business_date.strftime("%Y%m%d")
    statement_file = StatementFile.objects.create(
        channel=channel,
        kind=StatementFile.Kind.BUSINESS,
        statement_date=business_date,
        format_code="WECHAT_TRADE",
        sha256=hashlib.sha256(f"simulated {channel.code} {stamp} {seed} {now.isoformat()}".encode()).hexdigest(),
        raw_file=f"simulated/{channel.code}-{stamp}-{seed}",
        original_name="simulated",
        size=0,
        source=StatementFile.Source.COMMAND,
        status=StatementFile.Status.PARSED,
        received_at=now,
        parsed_at=now,
    )
    w = _Writer(channel, business_date, now, statement_file.pk)
    day = SimulatedDay(channel=channel, business_date=business_date, statement_file=statement_file)
    start = datetime.combine(business_date, time(0, 0), tzinfo=SHANGHAI)
    every = max(1, round(1 / difference_rate)) if difference_rate else 0
    # Our order numbers are unique across channels: the channel's code and the seed keep days apart.
    prefix = f"{channel.code}-{stamp}-{seed}-"
    for n in range(count):
        at = start + timedelta(seconds=n * 86000 // max(count, 1))
        txn_no, serial = f"{prefix}{n:09d}", f"42{stamp}{seed % 1000:03d}{n:015d}"
        amount = Decimal(rng.randint(100, 500000)).scaleb(-2)
        fee = fee_of(amount)
        injected = INJECTED_TYPES[(n // every) % len(INJECTED_TYPES)] if every and n % every == every - 1 else None
        if injected is None:
            w.txn(txn_no, serial, "COLLECTION", amount, "SUCCESS", at, fee=fee)
            w.line(txn_no, serial, LineType.COLLECTION, amount, fee, LineStatus.SUCCESS, at)
            continue
        day.injected.add((str(injected), txn_no))
        if injected == DiscrepancyType.BANK_ONLY:
            w.line(txn_no, serial, LineType.COLLECTION, amount, fee, LineStatus.SUCCESS, at)
        elif injected == DiscrepancyType.PLATFORM_ONLY:
            w.txn(txn_no, serial, "COLLECTION", amount, "SUCCESS", at, fee=fee)
        elif injected == DiscrepancyType.STATUS_MISMATCH:
            w.txn(txn_no, serial, "COLLECTION", amount, rng.choice(["UNKNOWN", "PROCESSING", "FAILED"]), at)
            w.line(txn_no, serial, LineType.COLLECTION, amount, fee, LineStatus.SUCCESS, at)
        elif injected == DiscrepancyType.AMOUNT_MISMATCH:
            w.txn(txn_no, serial, "COLLECTION", amount + Decimal("1.00"), "SUCCESS", at, fee=fee)
            w.line(txn_no, serial, LineType.COLLECTION, amount, fee, LineStatus.SUCCESS, at)
        elif injected == DiscrepancyType.FEE_MISMATCH:
            w.txn(txn_no, serial, "COLLECTION", amount, "SUCCESS", at, fee=fee)
            w.line(txn_no, serial, LineType.COLLECTION, amount, fee + Decimal("0.05"), LineStatus.SUCCESS, at)
        elif injected == DiscrepancyType.DUPLICATE:
            w.txn(txn_no, serial, "COLLECTION", amount, "SUCCESS", at, fee=fee)
            w.line(txn_no, serial, LineType.COLLECTION, amount, fee, LineStatus.SUCCESS, at)
            w.line(txn_no, serial, LineType.COLLECTION, amount, fee, LineStatus.SUCCESS, at)
        else:  # a payout we saw fail (a timeout turned failure), paid by the bank, then paid again by a retry
            payee = f"6222{seed % 1000:03d}{n:09d}"
            retry_no, retry_serial = f"{txn_no}R", f"{serial}R"
            w.txn(txn_no, serial, "PAYOUT", amount, "FAILED", at, payee=payee)
            w.line(txn_no, serial, LineType.PAYOUT, amount, payout_fee, LineStatus.SUCCESS, at)
            later = at + timedelta(seconds=30)
            w.txn(retry_no, retry_serial, "PAYOUT", amount, "SUCCESS", later, payee=payee, fee=payout_fee)
            w.line(retry_no, retry_serial, LineType.PAYOUT, amount, payout_fee, LineStatus.SUCCESS, later)
    # Channels list in their own order, not ours; line numbers follow the file's order.
    rng.shuffle(w.lines)
    w.lines = [row._replace(source_line=number) for number, row in enumerate(w.lines, 2)]
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {PlatformTransaction._meta.db_table} ({', '.join(TXN_COLUMNS)}) FROM STDIN") as copy:
            for start_at in range(0, len(w.txns), 50000):
                copy.write("\n".join(w.txns[start_at : start_at + 50000]) + "\n")
    statement_copy.copy_rows(
        StatementLine._meta.db_table, statement_copy.LINE_COLUMNS, map(w.encode, w.lines), on_progress=lambda n: None
    )
    StatementFile.objects.filter(pk=statement_file.pk).update(line_count=len(w.lines))
    day.transactions, day.lines = len(w.txns), len(w.lines)
    return day
