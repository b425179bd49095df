"""Writers of weChat Pay trade and fund-flow bills."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import tzinfo
from typing import BinaryIO

from reconciliation.parsers.base import (
    DEFAULT_TZ,
    ZERO,
    Direction,
    FundMovementRow,
    LineStatus,
    LineType,
    StatementLineRow,
)
from reconciliation.parsers.writers.common import Text, local, money

WECHAT_TRADE_HEADER = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
)
WECHAT_TRADE_SUMMARY = (
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
)
_WECHAT_REFUND_STATUS = {
    LineStatus.SUCCESS: "SUCCESS",
    LineStatus.PROCESSING: "PROCESSING",
    LineStatus.FAILED: "REFUNDCLOSE",
}


def _ticked(values: Sequence[str]) -> list[str]:
    return ["`" + value for value in values]


def write_wechat_trade(
    rows: Iterable[StatementLineRow],
    out: BinaryIO,
    *,
    appid: str = "wx8d1f0c2a4b6e9735",
    mch_id: str = "1604937281",
    tz: tzinfo = DEFAULT_TZ,
) -> None:
    """A WeChat Pay ALL trade bill (current 27-column layout), streamed row by row.

    COLLECTION rows must be SUCCESS; REFUND rows are written with their own serials in
    微信退款单号/商户退款单号 and the refunded order in 微信订单号/商户订单号.
    """
    count = 0
    settled = refunded = fees = ZERO
    with Text(out, "utf-8") as text:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(WECHAT_TRADE_HEADER)
        for row in rows:
            rate = "" if row.fee_rate is None else f"{row.fee_rate.scaleb(2)}%"
            amount = money(row.amount)
            fee = money(row.fee, 5)
            when = local(row.occurred_at, tz)
            if row.line_type is LineType.COLLECTION:
                if row.status is not LineStatus.SUCCESS:
                    raise ValueError("a WeChat trade bill lists successful payments only")
                values = (
                    when,
                    appid,
                    mch_id,
                    "0",
                    "",
                    row.channel_txn_no,
                    row.txn_no,
                    "",
                    "JSAPI",
                    "SUCCESS",
                    "OTHERS",
                    row.currency,
                    amount,
                    "0.00",
                    "0",
                    "0",
                    "0.00",
                    "0.00",
                    "",
                    "",
                    "",
                    "",
                    fee,
                    rate,
                    amount,
                    "0.00",
                    "",
                )
                settled += row.amount
            elif row.line_type is LineType.REFUND:
                values = (
                    when,
                    appid,
                    mch_id,
                    "0",
                    "",
                    row.original_channel_txn_no,
                    row.original_txn_no,
                    "",
                    "JSAPI",
                    "REFUND",
                    "OTHERS",
                    row.currency,
                    "0.00",
                    "0.00",
                    row.channel_txn_no,
                    row.txn_no,
                    amount,
                    "0.00",
                    "ORIGINAL",
                    _WECHAT_REFUND_STATUS[row.status],
                    "",
                    "",
                    fee,
                    rate,
                    "0.00",
                    amount,
                    "",
                )
                refunded += row.amount
            else:
                raise ValueError(f"a WeChat trade bill has no {row.line_type} lines")
            writer.writerow(_ticked(values))
            count += 1
            fees += row.fee
        writer.writerow(WECHAT_TRADE_SUMMARY)
        writer.writerow(
            _ticked((str(count), money(settled), money(refunded), "0.00", money(fees, 5), money(settled), money(refunded)))
        )


WECHAT_FUND_HEADER = (
    "记账时间",
    "微信支付业务单号",
    "资金流水单号",
    "业务名称",
    "业务类型",
    "收支类型",
    "收支金额(元)",
    "账户结余(元)",
    "资金变更提交申请人",
    "备注",
    "业务凭证号",
)
WECHAT_FUND_SUMMARY = ("资金流水总笔数", "收入笔数", "收入金额", "支出笔数", "支出金额")


def write_wechat_fund(rows: Iterable[FundMovementRow], out: BinaryIO, *, tz: tzinfo = DEFAULT_TZ) -> None:
    """A WeChat Pay fund-flow bill (资金账单). ``memo`` goes to 业务名称; rows need ``booked_at``."""
    counts = {Direction.CREDIT: 0, Direction.DEBIT: 0}
    sums = {Direction.CREDIT: ZERO, Direction.DEBIT: ZERO}
    with Text(out, "utf-8") as text:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(WECHAT_FUND_HEADER)
        for row in rows:
            if row.booked_at is None:
                raise ValueError("a WeChat fund-flow bill needs booked_at on every row")
            balance = "" if row.balance_after is None else money(row.balance_after)
            kind = "收入" if row.direction is Direction.CREDIT else "支出"
            writer.writerow(
                _ticked(
                    (
                        local(row.booked_at, tz),
                        row.business_ref,
                        row.bank_ref,
                        row.memo,
                        "",
                        kind,
                        money(row.amount),
                        balance,
                        "system",
                        "",
                        "",
                    )
                )
            )
            counts[row.direction] += 1
            sums[row.direction] += row.amount
        writer.writerow(WECHAT_FUND_SUMMARY)
        writer.writerow(
            _ticked(
                (
                    str(counts[Direction.CREDIT] + counts[Direction.DEBIT]),
                    str(counts[Direction.CREDIT]),
                    money(sums[Direction.CREDIT]),
                    str(counts[Direction.DEBIT]),
                    money(sums[Direction.DEBIT]),
                )
            )
        )
