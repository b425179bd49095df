"""A few days of demo activity: our transaction records and the channels' statements for them, with
the everyday differences a clearing team meets (a late file line, a timed-out payment the bank
completed, an amount keyed wrong, a payout paid twice…), so a new user sees a living system.

Deterministic: the same day always produces the same records and the same file bytes, so running the
seeder twice imports nothing twice (records are idempotent on txn_no, files on their SHA-256).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from accounts.models import LedgerRole, Voucher
from accounts.services.books import Line, ledger_for, voucher_post, voucher_propose
from reconciliation.models import (
    Action,
    BankAccount,
    Channel,
    Discrepancy,
    DiscrepancyState,
    DiscrepancyType,
    PlatformTransaction,
    ReconciliationRun,
    Resolution,
    RunTrigger,
    StatementFile,
    StatementFormat,
    TransactionConflict,
)
from reconciliation.parsers import GenericFormatConfig
from reconciliation.parsers.base import Direction, FundMovementRow, LineStatus, LineType, StatementLineRow
from reconciliation.parsers.writers import render, write_alipay_trade, write_generic_csv, write_mt940, write_wechat_trade
from reconciliation.services.channels.fees import FeeSpec, fee_function
from reconciliation.services.engine.runs import run_execute, run_start
from reconciliation.services.intake.statements import StatementRefused, statement_parse, statement_receive
from reconciliation.services.intake.transactions import transactions_receive
from reconciliation.services.postings import bank_deposit_account
from reconciliation.services.workflow.resolution import discrepancies_assign, discrepancy_propose, resolution_approve

SHANGHAI = ZoneInfo("Asia/Shanghai")
AMOUNTS = [Decimal(a) for a in ("6.00", "12.50", "38.00", "88.00", "128.00", "199.90", "23.40", "56.00", "9.90", "300.00")]

# The bank-direct channel's business-detail file: a CSV export read through a configured format.
BANKDIRECT_FORMAT = {
    "kind": "business",
    "file_type": "csv",
    "encoding": "utf-8-sig",
    "header_row": 2,
    "columns": {
        "channel_txn_no": "银行流水号",
        "txn_no": "客户流水号",
        "line_type": "业务类型",
        "status": "交易状态",
        "amount": "交易金额",
        "fee": "手续费",
        "occurred_at": "交易时间",
        "batch_ref": "批次号",
    },
    "datetime_formats": ["%Y-%m-%d %H:%M:%S"],
    "type_map": {"代付": "PAYOUT", "批量代发": "BATCH_PAYOUT"},
    "status_map": {"成功": "SUCCESS", "失败": "FAILED"},
}


@dataclass
class DayPlan:
    records: list[dict]
    lines: list[StatementLineRow]


# The demo's WeChat and Alipay channels charge 0.6 % (backoffice.demo.world), priced as their fee model does.
_fee = fee_function(FeeSpec.flat_rate(Decimal("0.006")))


def _at(day: date, seconds: int) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=SHANGHAI) + timedelta(seconds=seconds)


def _record(
    txn_no,
    channel,
    business_type,
    amount,
    status,
    at,
    *,
    channel_txn_no="",
    fee=None,
    original="",
    batch_no="",
    merchant_no="M00000101",
    counterparty_account="",
    counterparty_name="",
) -> dict:
    return {
        "txn_no": txn_no,
        "channel": channel,
        "business_type": business_type,
        "amount": str(amount),
        "currency": "CNY",
        "status": status,
        "created_at": at.isoformat(),
        "completed_at": at.isoformat() if status in ("SUCCESS", "FAILED") else "",
        "business_date": at.date().isoformat(),
        "channel_txn_no": channel_txn_no,
        "fee": "" if fee is None else str(fee),
        "original_txn_no": original,
        "batch_no": batch_no,
        "merchant_no": merchant_no,
        "counterparty_account": counterparty_account,
        "counterparty_name": counterparty_name,
    }


def _collections(code: str, prefix: str, day: date, count: int) -> DayPlan:
    """Collections and two refunds, both sides agreeing, then four realistic differences."""
    stamp = day.strftime("%Y%m%d")
    records, lines = [], []
    for n in range(count):
        amount, at = AMOUNTS[n % len(AMOUNTS)], _at(day, n * 977)
        txn_no, serial = f"{prefix}{stamp}{n:04d}", f"{4200 if code == 'WECHAT' else 2026}{stamp}{n:012d}"
        records.append(_record(txn_no, code, "COLLECTION", amount, "SUCCESS", at, channel_txn_no=serial, fee=_fee(amount)))
        lines.append(
            StatementLineRow(
                0,
                serial,
                txn_no,
                LineType.COLLECTION,
                LineStatus.SUCCESS,
                amount,
                _fee(amount),
                "CNY",
                at,
                at,
                fee_rate=Decimal("0.006"),
            )
        )
    for n in (2, 5):  # refunds of two of the day's collections
        original, amount, at = records[n], Decimal(records[n]["amount"]) / 2, _at(day, 40000 + n)
        refund_no, refund_serial = f"R{original['txn_no']}", f"5030{stamp}{n:012d}"
        records.append(
            _record(
                refund_no,
                code,
                "REFUND",
                amount,
                "SUCCESS",
                at,
                channel_txn_no=refund_serial,
                original=original["txn_no"],
                fee=-_fee(amount),
            )
        )
        lines.append(
            StatementLineRow(
                0,
                refund_serial,
                refund_no,
                LineType.REFUND,
                LineStatus.SUCCESS,
                amount,
                -_fee(amount),
                "CNY",
                at,
                at,
                refund_no=refund_no,
                original_channel_txn_no=original["channel_txn_no"],
                original_txn_no=original["txn_no"],
                fee_rate=Decimal("0.006"),
            )
        )
    # Differences: ours only (the bank will list it tomorrow), the bank's only, a timeout the bank
    # completed, and an amount keyed wrong on our side.
    at = _at(day, 50000)
    records.append(
        _record(
            f"{prefix}{stamp}9001",
            code,
            "COLLECTION",
            Decimal("45.00"),
            "SUCCESS",
            at,
            channel_txn_no=f"4200{stamp}900000000001",
            fee=_fee(Decimal("45.00")),
        )
    )
    lines.append(
        StatementLineRow(
            0,
            f"4200{stamp}900000000002",
            f"{prefix}{stamp}9002",
            LineType.COLLECTION,
            LineStatus.SUCCESS,
            Decimal("66.00"),
            _fee(Decimal("66.00")),
            "CNY",
            at,
            at,
        )
    )
    records.append(_record(f"{prefix}{stamp}9003", code, "COLLECTION", Decimal("18.00"), "UNKNOWN", at))
    lines.append(
        StatementLineRow(
            0,
            f"4200{stamp}900000000003",
            f"{prefix}{stamp}9003",
            LineType.COLLECTION,
            LineStatus.SUCCESS,
            Decimal("18.00"),
            _fee(Decimal("18.00")),
            "CNY",
            at,
            at,
        )
    )
    records.append(
        _record(
            f"{prefix}{stamp}9004",
            code,
            "COLLECTION",
            Decimal("88.00"),
            "SUCCESS",
            at,
            channel_txn_no=f"4200{stamp}900000000004",
            fee=_fee(Decimal("88.00")),
        )
    )
    lines.append(
        StatementLineRow(
            0,
            f"4200{stamp}900000000004",
            f"{prefix}{stamp}9004",
            LineType.COLLECTION,
            LineStatus.SUCCESS,
            Decimal("80.00"),
            _fee(Decimal("80.00")),
            "CNY",
            at,
            at,
        )
    )
    return DayPlan(records, lines)


def _payouts(day: date) -> DayPlan:
    """Bank-direct payouts (fee 2.00 billed separately) and one paid twice: failed on our side after a
    timeout, retried successfully, and both paid by the bank. A payee's amount changes from day to day: the
    same payee paid the same amount within the channel's double-payment window is flagged as a risk."""
    stamp = day.strftime("%Y%m%d")
    records, lines = [], []
    shift = day.toordinal()
    for n in range(8):
        amount, at = AMOUNTS[(n + 3 + shift) % len(AMOUNTS)] * 10, _at(day, 3600 + n * 1800)
        txn_no, serial = f"PO{stamp}{n:04d}", f"ICBC{stamp}{n:08d}"
        payee = f"62220210{n:08d}"
        records.append(
            _record(
                txn_no,
                "BANKDIRECT",
                "PAYOUT",
                amount,
                "SUCCESS",
                at,
                channel_txn_no=serial,
                fee=Decimal("2.00"),
                counterparty_account=payee,
                counterparty_name=f"收款人{n}",
            )
        )
        lines.append(
            StatementLineRow(0, serial, txn_no, LineType.PAYOUT, LineStatus.SUCCESS, amount, Decimal("2.00"), "CNY", at, at)
        )
    at, retried = _at(day, 30000), Decimal("1500.00") + shift % 7 * 10
    for suffix, status in (("A", "FAILED"), ("B", "SUCCESS")):
        txn_no, serial = f"PO{stamp}77{suffix}", f"ICBC{stamp}77{suffix}"
        records.append(
            _record(
                txn_no,
                "BANKDIRECT",
                "PAYOUT",
                retried,
                status,
                at,
                channel_txn_no=serial,
                fee=Decimal("2.00"),
                counterparty_account="6222021234567777",
                counterparty_name="王五",
            )
        )
        lines.append(
            StatementLineRow(0, serial, txn_no, LineType.PAYOUT, LineStatus.SUCCESS, retried, Decimal("2.00"), "CNY", at, at)
        )
        at += timedelta(minutes=12)
    return DayPlan(records, lines)


def _take_in(channel: Channel, data: bytes, name: str, day: date, now: datetime, **kwargs) -> bool:
    try:
        statement_file = statement_receive(
            channel=channel,
            content=io.BytesIO(data),
            original_name=name,
            source=StatementFile.Source.COMMAND,
            acting_user=None,
            now=now,
            statement_date=day,
            **kwargs,
        )
    except StatementRefused as exc:
        if exc.duplicate_of is not None:
            return False  # already seeded
        raise
    statement_parse(statement_file=statement_file, now=now, reconcile=False)
    return True


def _upsert(records: list[dict], now: datetime) -> int:
    # Records seeded before are left alone: the demo workflow may have corrected some of them since.
    known = set(PlatformTransaction.objects.filter(txn_no__in=[r["txn_no"] for r in records]).values_list("txn_no", flat=True))
    records = [r for r in records if r["txn_no"] not in known]
    if not records:
        return 0
    return transactions_receive(records=records, source=TransactionConflict.Source.API, now=now).created


def demo_activity_seed(*, today: date, days: int, now: datetime) -> dict[str, int]:
    """Records and statements for the ``days`` days before ``today``; returns what was created."""
    channels = {c.code: c for c in Channel.objects.filter(code__in=("WECHAT", "ALIPAY", "BANKDIRECT"))}
    bankdirect_format, _ = StatementFormat.objects.get_or_create(
        channel=channels["BANKDIRECT"],
        kind="BUSINESS",
        is_default=True,
        defaults={"format_code": "GENERIC", "name": "工商银行代付明细 (CSV)", "config": BANKDIRECT_FORMAT},
    )
    # Rendered from the constant, not the stored JSON: jsonb reorders keys, and the column order of the
    # written file (hence its bytes and SHA-256) must not change between runs.
    config = GenericFormatConfig.from_dict(BANKDIRECT_FORMAT)
    reserve = BankAccount.objects.get(bank__code="ICBC", kind=BankAccount.Kind.RESERVE)
    created = {"transactions": 0, "statement files": 0, "reconciliation runs": 0}
    # The books open with the reserve account's balance of the first day's MT940, held for our customers.
    opening = Decimal("100000.00")
    voucher_post(
        kind=Voucher.Kind.OPENING,
        business_date=today - timedelta(days=days + 1),
        memo="期初余额：备付金专户余额，对应客户备付金。",
        lines=[
            Line(bank_deposit_account(reserve), debit=opening),
            Line(ledger_for(LedgerRole.CUSTOMER_PAYABLE, "CNY"), credit=opening),
        ],
        source_key="demo:opening",
        now=now,
    )
    moved_before: list[FundMovementRow] = []
    for offset in range(days, 0, -1):
        day = today - timedelta(days=offset)
        stamp = day.strftime("%Y%m%d")
        wechat, alipay, payouts = _collections("WECHAT", "WX", day, 30), _collections("ALIPAY", "AP", day, 20), _payouts(day)
        created["transactions"] += _upsert(wechat.records + alipay.records + payouts.records, now)
        files = [
            (channels["WECHAT"], render(write_wechat_trade, wechat.lines), f"wechat_trade_{stamp}.csv", {}),
            (
                channels["ALIPAY"],
                render(
                    write_alipay_trade,
                    alipay.lines,
                    period=(day, day + timedelta(days=1)),
                    exported_at=_at(day + timedelta(days=1), 0),
                ),
                f"alipay_{stamp}_业务明细.csv",
                {},
            ),
            (
                channels["BANKDIRECT"],
                render(write_generic_csv, payouts.lines, config=config),
                f"icbc_payout_{stamp}.csv",
                {"statement_format": bankdirect_format},
            ),
        ]
        movements = [
            FundMovementRow(
                0,
                reserve.account_no,
                day,
                None,
                day,
                Direction.DEBIT,
                line.amount,
                None,
                "CNY",
                counterparty_name="PAYEE",
                memo="PAYOUT",
                bank_ref=line.channel_txn_no,
            )
            for line in payouts.lines
        ] + [
            FundMovementRow(
                0,
                reserve.account_no,
                day,
                None,
                day,
                Direction.CREDIT,
                Decimal("20000.00"),
                None,
                "CNY",
                counterparty_name="EXAMPLE PAY LTD",
                memo="RESERVE TOP-UP",
                bank_ref=f"TRF{stamp}",
            )
        ]
        # MT940 carries the SWIFT character set only: English memos. Each day opens where the last closed.
        balance = opening + sum((m.amount if m.direction == Direction.CREDIT else -m.amount for m in moved_before), Decimal(0))
        moved_before += movements
        files.append(
            (
                channels["BANKDIRECT"],
                render(
                    write_mt940,
                    movements,
                    account_ref=reserve.account_no,
                    currency="CNY",
                    opening_balance=balance,
                    opening_date=day,
                ),
                f"icbc_{stamp}.sta",
                {"kind": "FUND", "bank_account": reserve},
            )
        )
        for channel, data, name, kwargs in files:
            created["statement files"] += _take_in(channel, data, name, day, now, **kwargs)
        # Reconciled here, day by day in order, so carry-over works as it does in production.
        for channel in channels.values():
            if not ReconciliationRun.objects.filter(channel=channel, business_date=day, stage="TRANSACTION").exists():
                run = run_start(channel=channel, business_date=day, trigger=RunTrigger.COMMAND, now=now, execute=False)
                run_execute(run=run, now=now)
                created["reconciliation runs"] += 1
        # Stage 2 where the day's money movements are in (the bank-direct channel's reserve account).
        funded = StatementFile.objects.filter(kind="FUND", statement_date=day).values_list("channel_id", flat=True)
        for channel in channels.values():
            if (
                channel.pk in funded
                and not ReconciliationRun.objects.filter(channel=channel, business_date=day, stage="FUND").exists()
            ):
                run = run_start(
                    channel=channel, business_date=day, trigger=RunTrigger.COMMAND, now=now, execute=False, stage="FUND"
                )
                run_execute(run=run, now=now)
                created["reconciliation runs"] += 1
                # And the reserve account's journal against the bank's statement (账实核对).
                run = run_start(
                    channel=channel, business_date=day, trigger=RunTrigger.COMMAND, now=now, execute=False, stage="BOOKS"
                )
                run_execute(run=run, now=now)
                created["reconciliation runs"] += 1
    return created


def demo_workflow_seed(*, clerk, checker, now: datetime) -> dict[str, int]:
    """Some clerk work on the oldest demo day, so the queue, approvals and history screens have content:
    one correction approved and executed, one 补单 and one 追款 waiting for the checker, two items
    assigned to the clerk. Does nothing once any resolution exists."""
    if Resolution.objects.exists():
        return {}
    oldest = Discrepancy.objects.filter(channel__code__in=("WECHAT", "ALIPAY", "BANKDIRECT")).order_by("business_date", "pk")
    source = "demo"
    created = {"resolutions": 0}

    def first(**filters) -> Discrepancy | None:
        return oldest.filter(state=DiscrepancyState.OPEN, **filters).first()

    amount = first(type=DiscrepancyType.AMOUNT_MISMATCH, channel__code="WECHAT")
    if amount:
        r = discrepancy_propose(
            discrepancy=amount,
            action=Action.ACCEPT_BANK,
            acting_user=clerk,
            now=now,
            source=source,
            reason="商户确认实收 80.00 元，以通道金额为准。",
        )
        resolution_approve(resolution=r, comment="已核对通道明细。", acting_user=checker, now=now, source=source)
        created["resolutions"] += 1
    status = first(type=DiscrepancyType.STATUS_MISMATCH, channel__code="ALIPAY")
    if status:
        discrepancy_propose(
            discrepancy=status,
            action=Action.SUPPLEMENT,
            acting_user=clerk,
            now=now,
            source=source,
            reason="通道已确认支付成功，订单超时未回调，申请补单。",
        )
        created["resolutions"] += 1
    double = first(type=DiscrepancyType.DOUBLE_PAYMENT_RISK)
    if double:
        discrepancy_propose(
            discrepancy=double,
            action=Action.RECOVERY,
            acting_user=clerk,
            now=now,
            source=source,
            reason="银行回单显示首笔代付已成功，重试又付一笔，需向收款人追回。",
        )
        created["resolutions"] += 1
    reserve = BankAccount.objects.filter(kind=BankAccount.Kind.RESERVE, currency="CNY").order_by("pk").first()
    if reserve:  # an offline item (线下补录) waiting for the checker: a bank charge taken at the counter
        voucher_propose(
            business_date=oldest.first().business_date if oldest.exists() else now.date(),
            memo="备付金账户年度管理费，银行柜台扣收，附回单。",
            lines=[
                Line(ledger_for(LedgerRole.FEE_EXPENSE, "CNY"), debit=Decimal("300.00")),
                Line(bank_deposit_account(reserve), credit=Decimal("300.00")),
            ],
            acting_user=clerk,
            now=now,
        )
    mine = list(
        oldest.filter(state=DiscrepancyState.OPEN, channel__code="WECHAT", assigned_to=None).values_list("pk", flat=True)[:2]
    )
    discrepancies_assign(
        discrepancies=Discrepancy.objects.filter(pk__in=mine), assignee=clerk, acting_user=clerk, now=now, source=source
    )
    return created
