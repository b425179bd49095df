"""Render statement rows back into each channel's file format.

The inverse of ``reconciliation.parsers``: used for test fixtures, the demo-data seeder and the
intake benchmark. Every writer computes the summaries, footers and balances its format declares, so
its output parses with ``strict_totals=True``. Fields a format cannot carry are left out (and come
back empty or None when parsed); values a format cannot express raise ``ValueError``.

Each writer has the shape ``write_x(rows, out, **options) -> None`` and streams to the binary file
object ``out``; ``render(write_x, rows, **options)`` returns the bytes instead.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import BinaryIO
from xml.sax.saxutils import escape, quoteattr

from reconciliation.parsers.base import (
    DEFAULT_TZ,
    ZERO,
    Direction,
    FundMovementRow,
    LineStatus,
    LineType,
    StatementLineRow,
)
from reconciliation.parsers.generic import GenericFormatConfig, write_amount, write_date
from reconciliation.parsers.unionpay import ZM_FIELDS, ZM_LINE_BYTES, ZM_WRITE_CODES


def render(write: Callable[..., None], rows: Iterable, **options: object) -> bytes:
    """Run a writer into memory and return the file's bytes."""
    buffer = io.BytesIO()
    write(rows, buffer, **options)
    return buffer.getvalue()


def _money(amount: Decimal, places: int = 2) -> str:
    """Fixed-point text; refuses to round (a writer must not change amounts silently)."""
    text = f"{amount:.{places}f}"
    if Decimal(text) != amount:
        raise ValueError(f"amount {amount} has more than {places} decimals")
    return text


def _local(value: datetime, tz: tzinfo) -> str:
    local = value if value.tzinfo is tz else value.astimezone(tz)
    return local.isoformat(" ", "seconds")[:19]


class _Text:
    """A text view of ``out`` that is flushed and detached (``out`` stays open) on exit."""

    def __init__(self, out: BinaryIO, encoding: str) -> None:
        self.stream = io.TextIOWrapper(out, encoding=encoding, newline="")

    def __enter__(self) -> io.TextIOWrapper:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        self.stream.detach()


# --- WeChat Pay -------------------------------------------------------------------------------

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
    with _Text(out, "utf-8") as text:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(WECHAT_TRADE_HEADER)
        for row in rows:
            rate = "" if row.fee_rate is None else f"{row.fee_rate.scaleb(2)}%"
            amount = _money(row.amount)
            fee = _money(row.fee, 5)
            when = _local(row.occurred_at, tz)
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
            _ticked((str(count), _money(settled), _money(refunded), "0.00", _money(fees, 5), _money(settled), _money(refunded)))
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
    with _Text(out, "utf-8") as text:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(WECHAT_FUND_HEADER)
        for row in rows:
            if row.booked_at is None:
                raise ValueError("a WeChat fund-flow bill needs booked_at on every row")
            balance = "" if row.balance_after is None else _money(row.balance_after)
            kind = "收入" if row.direction is Direction.CREDIT else "支出"
            writer.writerow(
                _ticked(
                    (
                        _local(row.booked_at, tz),
                        row.business_ref,
                        row.bank_ref,
                        row.memo,
                        "",
                        kind,
                        _money(row.amount),
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
                    _money(sums[Direction.CREDIT]),
                    str(counts[Direction.DEBIT]),
                    _money(sums[Direction.DEBIT]),
                )
            )
        )


# --- Alipay -----------------------------------------------------------------------------------

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
            amount = _money(sign * row.amount)
            created = _local(row.occurred_at, tz) if row.occurred_at else ""
            completed = _local(row.completed_at, tz) if row.completed_at else ""
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
                _money(-row.fee),
                "0.00",
                "",
            )
            sums[kind][0] += 1
            sums[kind][1] += sign * row.amount
            yield ",".join(values) + "\n"

    def footers() -> list[str]:
        (trades, received), (refunds, refunded) = sums["交易"], sums["退款"]
        return [
            f"#交易合计：{trades}笔，商家实收共{_money(received)}元，商家优惠共0.00元\n",
            f"#退款合计：{refunds}笔，商家实收退款共{_money(refunded)}元，商家优惠退款共0.00元\n",
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
            income = _money(row.amount) if row.direction is Direction.CREDIT else "0.00"
            expense = _money(-row.amount) if row.direction is Direction.DEBIT else "0.00"
            balance = "" if row.balance_after is None else _money(row.balance_after)
            values = (
                _tabbed(row.bank_ref),
                _tabbed(row.business_ref),
                _tabbed(""),
                _tabbed(row.memo),
                _local(row.booked_at, tz),
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
        return [f"#支出合计：{debits}笔，共{_money(-paid)}元\n", f"#收入合计：{credits}笔，共{_money(received)}元\n"]

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


# --- UnionPay ZM --------------------------------------------------------------------------------


def _zm_field(value: str, width: int, name: str, *, numeric: bool = False) -> bytes:
    data = value.encode("gb18030")
    if len(data) > width:
        raise ValueError(f"{name} {value!r} is longer than {width} bytes")
    return data.rjust(width, b"0") if numeric else data.ljust(width, b" ")


def _fen(amount: Decimal) -> str:
    fen = amount.scaleb(2)
    if fen != fen.to_integral_value():
        raise ValueError(f"amount {amount} is not a whole number of fen")
    return str(int(fen))


def _zm_record(row: StatementLineRow, tz: tzinfo) -> bytes:
    code = row.type_code or ZM_WRITE_CODES.get(row.line_type)
    if code is None:
        raise ValueError(f"no ZM 交易代码 for {row.line_type}; set type_code")
    when = row.occurred_at.astimezone(tz).strftime("%m%d%H%M%S") if row.occurred_at else "0000000000"
    fee_sign = "C" if row.fee < 0 else "D"
    values = {
        "交易代码": code,
        "交易传输时间": when,
        "交易金额": _fen(row.amount).rjust(12, "0"),
        "查询流水号": row.channel_txn_no,
        "商户订单号": row.txn_no,
        "商户手续费": fee_sign + _fen(abs(row.fee)).rjust(12, "0"),
        "结算金额": "C" + _fen(row.amount).rjust(12, "0"),
        "原交易查询流水号": row.original_channel_txn_no,
        "交易介质": "0",
    }
    parts = []
    for name, width in ZM_FIELDS:
        parts.append(_zm_field(values.get(name, ""), width, name))
    record = b" ".join(parts)
    if len(record) != ZM_LINE_BYTES:
        raise AssertionError("ZM record width drifted from the field table")  # pragma: no cover
    return record


def write_unionpay_zm(rows: Iterable[StatementLineRow], out: BinaryIO, *, tz: tzinfo = DEFAULT_TZ) -> None:
    """A bare ZM file (GBK, fixed width by bytes, CRLF line ends as UnionPay sends them)."""
    for row in rows:
        out.write(_zm_record(row, tz) + b"\r\n")


def write_unionpay_zip(
    rows: Iterable[StatementLineRow],
    out: BinaryIO,
    *,
    file_date: date,
    merchant_id: str = "898110148160001",
    error_lines: Sequence[str] = (),
    tz: tzinfo = DEFAULT_TZ,
) -> None:
    """The ZIP UnionPay delivers: ``INN<yymmdd>88ZM_<merId>`` and the ZME error file."""
    stamp = file_date.strftime("%y%m%d")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open(f"INN{stamp}88ZM_{merchant_id}", "w") as target:
            write_unionpay_zm(rows, target, tz=tz)
        archive.writestr(f"INN{stamp}88ZME_{merchant_id}", "".join(f"{line}\r\n" for line in error_lines).encode("gb18030"))


# --- MT940 --------------------------------------------------------------------------------------


def _swift_amount(amount: Decimal) -> str:
    return _money(amount).replace(".", ",")


def write_mt940(
    rows: Iterable[FundMovementRow],
    out: BinaryIO,
    *,
    account_ref: str,
    currency: str,
    opening_balance: Decimal,
    opening_date: date,
    reference: str = "STMT",
    statement_no: str = "1/1",
) -> None:
    """One MT940 statement; the closing balance is computed from the movements. ``memo`` lines
    (at most 65 characters each) become :86:, ``business_ref`` the account-owner reference and
    ``bank_ref`` the ``//`` bank reference; a reversal is written RC/RD."""
    lines = [f":20:{reference}", f":25:{account_ref}", f":28C:{statement_no}"]
    mark = "C" if opening_balance >= 0 else "D"
    lines.append(f":60F:{mark}{opening_date:%y%m%d}{currency}{_swift_amount(abs(opening_balance))}")
    balance = opening_balance
    closing_date = opening_date
    for row in rows:
        credit = row.direction is Direction.CREDIT
        if row.is_reversal:
            code = "RD" if credit else "RC"
        else:
            code = "C" if credit else "D"
        value_date = row.value_date or row.booking_date
        reference_part = row.business_ref or "NONREF"
        bank_part = f"//{row.bank_ref}" if row.bank_ref else ""
        lines.append(
            f":61:{value_date:%y%m%d}{row.booking_date:%m%d}{code}{_swift_amount(row.amount)}NTRF{reference_part}{bank_part}"
        )
        memo_lines = row.memo.split("\n") if row.memo else []
        if any(len(line) > 65 for line in memo_lines):
            raise ValueError("MT940 :86: lines hold at most 65 characters")
        if memo_lines:
            lines.append(f":86:{memo_lines[0]}")
            lines.extend(memo_lines[1:])
        balance += row.amount if credit else -row.amount
        closing_date = max(closing_date, row.booking_date)
    mark = "C" if balance >= 0 else "D"
    lines.append(f":62F:{mark}{closing_date:%y%m%d}{currency}{_swift_amount(abs(balance))}")
    lines.append("-")
    out.write(("\r\n".join(lines) + "\r\n").encode("ascii"))


# --- camt.053 -----------------------------------------------------------------------------------


def write_camt053(
    rows: Iterable[FundMovementRow],
    out: BinaryIO,
    *,
    account_ref: str,
    currency: str,
    opening_balance: Decimal,
    period: tuple[date, date],
    version: str = "02",
    statement_id: str = "STMT-1",
    created_at: datetime | None = None,
) -> None:
    """One camt.053 statement (version ``001.<version>``), streamed entry by entry. Batch rows
    (with ``items``) get ``Btch`` with NbOfTxs/TtlAmt and one TxDtls per item; single rows one
    TxDtls with the counterparty, EndToEndId = ``business_ref`` and Ustrd = ``memo``."""
    number = int(version)
    if not 2 <= number <= 13:
        raise ValueError("camt.053 versions 001.02 to 001.13 are supported")
    rows = list(rows)  # the closing balance precedes the entries
    closing = opening_balance + sum((row.amount if row.direction is Direction.CREDIT else -row.amount for row in rows), ZERO)
    start, end = period
    created = (created_at or datetime(end.year, end.month, end.day, 23, 0)).isoformat(timespec="seconds")
    write = lambda text: out.write(text.encode("utf-8"))  # noqa: E731 - local shorthand
    write('<?xml version="1.0" encoding="UTF-8"?>\n')
    write(f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{number:02d}"><BkToCstmrStmt>')
    write(f"<GrpHdr><MsgId>{escape(statement_id)}</MsgId><CreDtTm>{created}</CreDtTm></GrpHdr>")
    write(f"<Stmt><Id>{escape(statement_id)}</Id><CreDtTm>{created}</CreDtTm>")
    write(f"<FrToDt><FrDtTm>{start.isoformat()}T00:00:00</FrDtTm><ToDtTm>{end.isoformat()}T23:59:59</ToDtTm></FrToDt>")
    write(f"<Acct><Id><IBAN>{escape(account_ref)}</IBAN></Id><Ccy>{currency}</Ccy></Acct>")
    for code, amount, day in (("OPBD", opening_balance, start), ("CLBD", closing, end)):
        indicator = "CRDT" if amount >= 0 else "DBIT"
        write(
            f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy={quoteattr(currency)}>{_money(abs(amount))}</Amt>"
            f"<CdtDbtInd>{indicator}</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>"
        )
    for row in rows:
        write(_camt_entry(row, number))
    write("</Stmt></BkToCstmrStmt></Document>\n")


def _camt_party(role: str, name: str, account: str, number: int) -> str:
    if not name and not account:
        return ""
    named = f"<Nm>{escape(name)}</Nm>" if name else ""
    party = (f"<{role}><Pty>{named}</Pty></{role}>" if number >= 8 else f"<{role}>{named}</{role}>") if name else ""
    acct = f"<{role}Acct><Id><IBAN>{escape(account)}</IBAN></Id></{role}Acct>" if account else ""
    return party + acct


def _camt_details(
    amount: Decimal,
    currency: str,
    reference: str,
    bank_ref: str,
    name: str,
    account: str,
    memo: str,
    pays_out: bool,
    number: int,
) -> str:
    refs = ""
    if reference or bank_ref:
        refs = "<Refs>"
        refs += f"<AcctSvcrRef>{escape(bank_ref)}</AcctSvcrRef>" if bank_ref else ""
        refs += f"<EndToEndId>{escape(reference)}</EndToEndId>" if reference else ""
        refs += "</Refs>"
    party = _camt_party("Cdtr" if pays_out else "Dbtr", name, account, number)
    remittance = f"<RmtInf><Ustrd>{escape(memo)}</Ustrd></RmtInf>" if memo else ""
    return (
        f"<TxDtls>{refs}<AmtDtls><TxAmt><Amt Ccy={quoteattr(currency)}>{_money(amount)}</Amt></TxAmt></AmtDtls>"
        f"{'<RltdPties>' + party + '</RltdPties>' if party else ''}{remittance}</TxDtls>"
    )


def _camt_entry(row: FundMovementRow, number: int) -> str:
    indicator = "CRDT" if row.direction is Direction.CREDIT else "DBIT"
    status = "<Sts><Cd>BOOK</Cd></Sts>" if number >= 8 else "<Sts>BOOK</Sts>"
    booking = (
        f"<DtTm>{row.booked_at.isoformat(timespec='seconds')}</DtTm>"
        if row.booked_at
        else f"<Dt>{row.booking_date.isoformat()}</Dt>"
    )
    value = f"<ValDt><Dt>{row.value_date.isoformat()}</Dt></ValDt>" if row.value_date else ""
    parts = [
        f"<Ntry><Amt Ccy={quoteattr(row.currency)}>{_money(row.amount)}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>",
        "<RvslInd>true</RvslInd>" if row.is_reversal else "",
        f"{status}<BookgDt>{booking}</BookgDt>{value}",
        f"<AcctSvcrRef>{escape(row.bank_ref)}</AcctSvcrRef>" if row.bank_ref else "",
        "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>",
    ]
    pays_out = (row.direction is Direction.DEBIT) != row.is_reversal
    if row.items or row.batch_ref:
        batch = f"<Btch><PmtInfId>{escape(row.batch_ref)}</PmtInfId>" if row.batch_ref else "<Btch>"
        if row.items:
            total = sum((item.amount for item in row.items), ZERO)
            batch += f"<NbOfTxs>{len(row.items)}</NbOfTxs><TtlAmt Ccy={quoteattr(row.currency)}>{_money(total)}</TtlAmt>"
        details = "".join(
            _camt_details(
                item.amount,
                item.currency,
                item.reference,
                item.bank_ref,
                item.counterparty_name,
                item.counterparty_account,
                item.memo,
                pays_out,
                number,
            )
            for item in row.items
        )
        parts.append(f"<NtryDtls>{batch}</Btch>{details}</NtryDtls>")
        if row.memo:
            parts.append(f"<AddtlNtryInf>{escape(row.memo)}</AddtlNtryInf>")
    elif row.business_ref or row.counterparty_name or row.counterparty_account or row.memo:
        parts.append(
            "<NtryDtls>"
            + _camt_details(
                row.amount,
                row.currency,
                row.business_ref,
                "",
                row.counterparty_name,
                row.counterparty_account,
                row.memo,
                pays_out,
                number,
            )
            + "</NtryDtls>"
        )
    parts.append("</Ntry>")
    return "".join(parts)


# --- generic CSV ------------------------------------------------------------------------------


def write_generic_csv(
    rows: Iterable[StatementLineRow | FundMovementRow],
    out: BinaryIO,
    *,
    config: GenericFormatConfig,
    footer: str | None = None,
    tz: tzinfo = DEFAULT_TZ,
) -> None:
    """A CSV file in the layout ``config`` reads: title rows above ``header_row``, the first
    alternative name of each configured column, values in the configured notations. ``footer``
    is a template with ``{count}`` and ``{amount}`` (for control totals), written after an empty
    row or, without ``stop_at_empty_row``, as a row that must start with a footer prefix."""
    if config.file_type != "csv":
        raise ValueError("write_generic_csv writes CSV configurations only")
    targets = list(config.columns)
    header = [config.columns[target][0] for target in targets]
    count, total = 0, ZERO
    scope = config.control_totals.scope if config.control_totals else "all"
    with _Text(out, config.encoding) as text:
        writer = csv.writer(text, delimiter=config.delimiter, lineterminator="\n")
        for title_row in range(config.header_row - 1):
            writer.writerow([f"statement title {title_row + 1}"])
        writer.writerow(header)
        for _skipped in range(config.skip_rows_after_header):
            writer.writerow(["-"] * len(header))
        for row in rows:
            values = _generic_values(row, config, tz)
            writer.writerow([values.get(target, "") for target in targets])
            direction = getattr(row, "direction", None)
            if scope == "all" or (direction is not None and direction.value.lower() == scope):
                count += 1
                total += row.amount
        if footer is not None:
            if config.stop_at_empty_row:
                text.write("\n")
            elif not any(footer.startswith(prefix) for prefix in config.footer_prefixes):
                raise ValueError("the footer must start with a footer prefix, or the config must stop at an empty row")
            text.write(footer.format(count=count, amount=write_amount(total, config.amount_format)) + "\n")


def _reverse(mapping: dict, value: object, what: str) -> str:
    for text, mapped in mapping.items():
        if mapped == value:
            return text
    raise ValueError(f"the config's {what} has no text for {value}")


def _generic_values(row: StatementLineRow | FundMovementRow, config: GenericFormatConfig, tz: tzinfo) -> dict[str, str]:
    fmt = config.amount_format
    stamp = lambda value: value.astimezone(tz).strftime(config.datetime_formats[0]) if value else ""  # noqa: E731
    if isinstance(row, StatementLineRow):
        values = {
            "channel_txn_no": row.channel_txn_no,
            "txn_no": row.txn_no,
            "amount": write_amount(row.amount, fmt),
            "fee": write_amount(row.fee, fmt),
            "currency": row.currency,
            "occurred_at": stamp(row.occurred_at),
            "completed_at": stamp(row.completed_at),
            "refund_no": row.refund_no,
            "original_channel_txn_no": row.original_channel_txn_no,
            "original_txn_no": row.original_txn_no,
            "batch_ref": row.batch_ref,
        }
        if row.occurred_at is not None:
            local = row.occurred_at.astimezone(tz)
            values["occurred_date"] = write_date(local.date(), config.date_formats)
            values["occurred_time"] = local.strftime(config.time_formats[0])
        if "line_type" in config.columns:
            values["line_type"] = _reverse(config.type_map, row.line_type, "type_map")
        if "status" in config.columns:
            values["status"] = _reverse(config.status_map, row.status, "status_map")
        return values
    values = {
        "account_ref": row.account_ref,
        "booking_date": write_date(row.booking_date, config.date_formats),
        "booked_at": stamp(row.booked_at),
        "booking_time": row.booked_at.astimezone(tz).strftime(config.time_formats[0]) if row.booked_at else "",
        "value_date": write_date(row.value_date, config.date_formats) if row.value_date else "",
        "balance_after": "" if row.balance_after is None else write_amount(row.balance_after, fmt),
        "currency": row.currency,
        "counterparty_name": row.counterparty_name,
        "counterparty_account": row.counterparty_account,
        "memo": row.memo,
        "bank_ref": row.bank_ref,
        "batch_ref": row.batch_ref,
        "business_ref": row.business_ref,
    }
    debit = row.direction is Direction.DEBIT
    if config.debit_credit == "separate_columns":
        values["debit" if debit else "credit"] = write_amount(row.amount, fmt)
    elif config.debit_credit == "signed":
        values["amount"] = write_amount(-row.amount if debit else row.amount, fmt)
    else:
        values["amount"] = write_amount(row.amount, fmt)
        values["indicator"] = _reverse(config.indicator_map, row.direction, "indicator_map")
    return values
