"""Writers of alipay business and account detail bills."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import BinaryIO

from reconciliation.parsers.base import (
    DEFAULT_TZ,
    ZERO,
    Direction,
    FundMovementRow,
    LineType,
    StatementLineRow,
)
from reconciliation.parsers.writers.common import local, money

ALIPAY_TRADE_HEADER = (
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
)
ALIPAY_ACCOUNT_HEADER = (
    "账务流水号",
    "业务流水号",
    "商户订单号",
    "商品名称",
    "发生时间",
    "对方账号",
    "收入金额（+元）",
    "支出金额（-元）",
    "账户余额（元）",
    "交易渠道",
    "业务类型",
    "备注",
)


def _alipay_day(value: date) -> str:
    return f"{value.year}年{value.month:02d}月{value.day:02d}日 00:00:00"


def _alipay_bill(
    out: BinaryIO,
    *,
    title: str,
    account: str,
    period: tuple[date, date],
    header: Sequence[str],
    lines: Iterable[str],
    footers: Callable[[], list[str]],
    exported_at: datetime,
    zipped: bool,
    member: str,
) -> None:
    """Comment header, rows, end marker and footers, in GB18030 (a GBK superset), maybe zipped."""
    start, end = period

    def text_lines() -> Iterable[str]:
        yield f"#支付宝{title}查询\n"
        yield f"#账号：[{account}]\n"
        yield f"#起始日期：[{_alipay_day(start)}]   终止日期：[{_alipay_day(end + timedelta(days=1))}]\n"
        yield f"#-----------------------------------------{title}列表----------------------------------------\n"
        yield ",".join(header) + "\n"
        yield from lines
        yield f"#-----------------------------------------{title}列表结束------------------------------------\n"
        yield from footers()
        yield f"#导出时间：[{exported_at:%Y年%m月%d日 %H:%M:%S}]\n"

    if zipped:
        name = f"{account}_{start:%Y%m%d}_{member}.csv"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive, archive.open(name, "w") as target:
            for line in text_lines():
                target.write(line.encode("gb18030"))
        return
    for line in text_lines():
        out.write(line.encode("gb18030"))


def _tabbed(value: str) -> str:
    return value + "\t"


def write_alipay_trade(
    rows: Iterable[StatementLineRow],
    out: BinaryIO,
    *,
    account: str = "20881234567890120156",
    period: tuple[date, date],
    exported_at: datetime | None = None,
    zipped: bool = False,
    tz: tzinfo = DEFAULT_TZ,
) -> None:
    """An Alipay 业务明细 bill. Refund rows are written with negative amounts and their refund
    request number in 退款批次号/请求号; ``fee`` becomes a negative 服务费 (charged)."""
    sums = {"交易": [0, ZERO], "退款": [0, ZERO]}

    def lines() -> Iterable[str]:
        for row in rows:
            if row.line_type is LineType.COLLECTION:
                kind, sign, order_no, refund_no = "交易", 1, row.txn_no, ""
            elif row.line_type is LineType.REFUND:
                kind, sign, order_no, refund_no = "退款", -1, row.original_txn_no, row.refund_no
            else:
                raise ValueError(f"an Alipay trade bill has no {row.line_type} lines")
            amount = money(sign * row.amount)
            created = local(row.occurred_at, tz) if row.occurred_at else ""
            completed = local(row.completed_at, tz) if row.completed_at else ""
            values = (
                _tabbed(row.channel_txn_no),
                _tabbed(order_no),
                _tabbed(kind),
                "商品",
                created,
                completed,
                _tabbed(""),
                _tabbed(""),
                _tabbed(""),
                _tabbed(""),
                _tabbed(""),
                amount,
                amount,
                "0.00",
                "0.00",
                "0.00",
                "0.00",
                "0.00",
                "",
                _tabbed("0.00"),
                "0.00",
                _tabbed(refund_no),
                money(-row.fee),
                "0.00",
                "",
            )
            sums[kind][0] += 1
            sums[kind][1] += sign * row.amount
            yield ",".join(values) + "\n"

    def footers() -> list[str]:
        (trades, received), (refunds, refunded) = sums["交易"], sums["退款"]
        return [
            f"#交易合计：{trades}笔，商家实收共{money(received)}元，商家优惠共0.00元\n",
            f"#退款合计：{refunds}笔，商家实收退款共{money(refunded)}元，商家优惠退款共0.00元\n",
        ]

    _alipay_bill(
        out,
        title="业务明细",
        account=account,
        period=period,
        header=ALIPAY_TRADE_HEADER,
        lines=lines(),
        footers=footers,
        exported_at=exported_at or datetime(period[1].year, period[1].month, period[1].day, 6),
        zipped=zipped,
        member="业务明细",
    )


def write_alipay_account(
    rows: Iterable[FundMovementRow],
    out: BinaryIO,
    *,
    account: str = "20881234567890120156",
    period: tuple[date, date],
    exported_at: datetime | None = None,
    zipped: bool = False,
    tz: tzinfo = DEFAULT_TZ,
) -> None:
    """An Alipay 账务明细 bill. Expenses are written negative in 支出金额（-元）; ``memo`` goes to
    商品名称; rows need ``booked_at``."""
    sums = {Direction.CREDIT: [0, ZERO], Direction.DEBIT: [0, ZERO]}

    def lines() -> Iterable[str]:
        for row in rows:
            if row.booked_at is None:
                raise ValueError("an Alipay account bill needs booked_at on every row")
            income = money(row.amount) if row.direction is Direction.CREDIT else "0.00"
            expense = money(-row.amount) if row.direction is Direction.DEBIT else "0.00"
            balance = "" if row.balance_after is None else money(row.balance_after)
            values = (
                _tabbed(row.bank_ref),
                _tabbed(row.business_ref),
                _tabbed(""),
                _tabbed(row.memo),
                local(row.booked_at, tz),
                _tabbed(row.counterparty_account),
                income,
                expense,
                balance,
                "支付宝",
                "在线支付",
                "",
            )
            sums[row.direction][0] += 1
            sums[row.direction][1] += row.amount
            yield ",".join(values) + "\n"

    def footers() -> list[str]:
        (debits, paid), (credits, received) = sums[Direction.DEBIT], sums[Direction.CREDIT]
        return [f"#支出合计：{debits}笔，共{money(-paid)}元\n", f"#收入合计：{credits}笔，共{money(received)}元\n"]

    _alipay_bill(
        out,
        title="账务明细",
        account=account,
        period=period,
        header=ALIPAY_ACCOUNT_HEADER,
        lines=lines(),
        footers=footers,
        exported_at=exported_at or datetime(period[1].year, period[1].month, period[1].day, 6),
        zipped=zipped,
        member="账务明细",
    )
