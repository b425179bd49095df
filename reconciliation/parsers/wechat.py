"""WeChat Pay bills: the trade bill (交易账单) and the fund-flow bill (资金账单).

Both are CSV files in four parts: a header line, detail rows, a summary
header line and one summary row. Every detail and summary value starts with a backtick so Excel
keeps long numbers as text; it is removed. Columns are found by header name.

Text: WeChat writes UTF-8 (a BOM may lead); a bill opened and re-saved in Excel on a Chinese Windows is
GBK. Unless ``encoding`` is given, the head of the file decides (``charset.bill_encoding``): a BOM, else
strict UTF-8, else GB18030. A consumer's bill exported from the WeChat app (微信支付账单明细) is refused
as a personal bill (``personal``).

Trade bill layouts, told apart by the header:
- current (2018 on): 应结订单金额 … 订单金额, 申请退款金额, 费率备注; summary 总交易单数, 应结订单总金额,
  退款总金额, 充值券退款总金额, 手续费总金额, 订单总金额, 申请退款总金额;
- legacy (before 2018): 子商户号, 总金额, 代金券或立减优惠金额; summary 总交易单数, 总交易额, 总退款金额,
  总代金券或立减优惠退款金额, 手续费总金额; times may use a full-width colon (16：33：45).
Bill types: ALL (payments and refunds), SUCCESS (no refund columns), REFUND (adds 退款申请时间 and
退款成功时间).

Row mapping (trade):
- 交易状态 SUCCESS -> COLLECTION/SUCCESS; amount = 应结订单金额 (legacy 总金额), the amount WeChat
  settles to us; channel_txn_no = 微信订单号, txn_no = 商户订单号.
- 交易状态 REFUND (or REVOKED, a cancelled payment refunded) -> REFUND; amount = 退款金额; status from
  退款状态 (SUCCESS, PROCESSING, REFUNDCLOSE/CHANGE/FAIL -> FAILED); channel_txn_no = refund_no =
  微信退款单号, txn_no = 商户退款单号, original_* = 微信订单号/商户订单号. completed_at = 退款成功时间
  when the bill has it.
- Dating: a row's occurred_at (which dates it, and the bill's period) is 交易时间. In a REFUND bill,
  交易时间 is the refunded payment's time, so a refund row is dated by its own time instead: 退款申请时间
  (when we asked for the refund, the time our own refund record carries), else 退款成功时间; a row
  with neither keeps 交易时间, with a warning.
- fee = 手续费 as is (WeChat already writes a returned fee as negative).

Summary check: 总交易单数 = row count, 应结订单总金额 = Σ 应结订单金额 (all rows), 退款总金额 = Σ 退款金额
(refund rows), 手续费总金额 = Σ 手续费. The other summary columns are not checked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation

from . import personal
from .base import (
    AMOUNT_CHARS,
    DEFAULT_TZ,
    ZERO,
    ControlCheck,
    CsvRecords,
    Direction,
    FieldError,
    FundMovementRow,
    LineStatus,
    LineType,
    LocalDateTimeParser,
    ParsedStatement,
    ParseWarning,
    Source,
    StatementKind,
    StatementLineRow,
    StatementMetadata,
    StatementParseError,
    StatementTotals,
    csv_raw_fields,
    header_index,
    normalize_header,
    open_source,
    parse_amount,
    parse_percent,
    require_columns,
)
from .charset import bill_encoding, checked, head_of
from .messages import Code, Message

TRADE_SIGNATURE = ("交易时间", "微信订单号", "商户订单号", "交易状态")
FUND_SIGNATURE = ("记账时间", "资金流水单号", "收支类型")
REFUND_STATUS = {
    "SUCCESS": LineStatus.SUCCESS,
    "PROCESSING": LineStatus.PROCESSING,
    "REFUNDCLOSE": LineStatus.FAILED,
    "CHANGE": LineStatus.FAILED,
    "FAIL": LineStatus.FAILED,
    "FAILED": LineStatus.FAILED,
}
REFUND_STATES = frozenset({"REFUND", "REVOKED"})
FUND_DIRECTION = {"收入": Direction.CREDIT, "支出": Direction.DEBIT}


def raw_fields(raw: str, raw_columns: Sequence[str]) -> list[tuple[str, str]]:
    """(column, value) pairs of a detail row, backtick decoration removed."""
    return csv_raw_fields(raw, raw_columns, strip="`")


# --- shared skeleton --------------------------------------------------------------------------


ENCODING = "utf-8"  # what WeChat writes


def _open_bill(
    source: Source, signature: Sequence[str], what: Code, encoding: str | None
) -> tuple[CsvRecords, list[str], dict[str, int]]:
    """Read and check the header line; the returned records continue after it."""
    stream = open_source(source)
    encoding = checked(encoding) if encoding else bill_encoding(head_of(stream), default=ENCODING)
    records = CsvRecords(iter(stream), encoding=encoding, value_prefix="`")
    first = next(iter(records), None)
    if first is None or not first[1].strip():
        raise StatementParseError(Message(Code.EMPTY_FILE, what=Message(what)), line=None if first is None else 1)
    line_no, raw, header = first
    if "\x00" in raw:
        raise StatementParseError(Message(Code.HEADER_HOLDS_NUL), line=line_no)
    index = header_index(header)
    if not all(name in index for name in signature):
        personal.refuse_if_personal(iter(records), first)
        raise StatementParseError(Message(Code.HEADER_NOT_FOUND, what=Message(what), signature=",".join(signature)), line=line_no)
    records.header = header
    return records, header, index


class _Summary:
    """The summary header and row that close a bill, as name -> text."""

    def __init__(self, line: int, values: dict[str, str]) -> None:
        self.line = line
        self.values = values

    def amount(self, name: str) -> Decimal | None:
        text = self.values.get(name)
        if text is None:
            return None
        try:
            return parse_amount(text, name)
        except FieldError as exc:
            raise exc.at(self.line) from None

    def count(self, name: str) -> int | None:
        text = self.values.get(name)
        if text is None:
            return None
        if not (text.isascii() and text.isdigit()):
            raise StatementParseError(Message(Code.SUMMARY_NOT_A_COUNT, value=repr(text)), line=self.line, field=name)
        return int(text)


def _read_summary(rows: Iterator, header_line: int, header: list[str]) -> _Summary:
    found = next(rows, None)
    if found is None:
        raise StatementParseError(Message(Code.SUMMARY_ROW_MISSING), line=header_line)
    line_no, _raw, values = found
    if len(values) != len(header):
        raise StatementParseError(Message(Code.SUMMARY_ROW_WIDTH, found=len(values), expected=len(header)), line=line_no)
    for extra_no, extra_raw, _fields in rows:
        if extra_raw.strip():
            raise StatementParseError(Message(Code.SUMMARY_CONTENT_AFTER), line=extra_no)
    return _Summary(line_no, {normalize_header(n): v.strip() for n, v in zip(header, values, strict=True)})


def _wrong_length(line_no: int, found: int, expected: int) -> StatementParseError:
    return StatementParseError(Message(Code.ROW_WIDTH, found=found, expected=expected), line=line_no)


# --- trade bill -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TradeLayout:
    legacy: bool
    bill_type: str  # ALL, SUCCESS or REFUND
    width: int
    time: int
    wx_no: int
    out_no: int
    state: int
    currency: int
    amount: int
    amount_name: str
    fee: int
    rate: int | None
    wx_refund_no: int | None
    out_refund_no: int | None
    refund_amount: int | None
    refund_status: int | None
    refund_applied_at: int | None
    refund_done_at: int | None

    @classmethod
    def from_header(cls, header: list[str], index: dict[str, int], line: int) -> _TradeLayout:
        legacy = "应结订单金额" not in index and "总金额" in index
        amount_name = "总金额" if legacy else "应结订单金额"
        require_columns(index, ("交易时间", "微信订单号", "商户订单号", "交易状态", "货币种类", amount_name, "手续费"), line)
        if "退款申请时间" in index:
            bill_type = "REFUND"
        elif "微信退款单号" in index:
            bill_type = "ALL"
        else:
            bill_type = "SUCCESS"
        return cls(
            legacy=legacy,
            bill_type=bill_type,
            width=len(header),
            time=index["交易时间"],
            wx_no=index["微信订单号"],
            out_no=index["商户订单号"],
            state=index["交易状态"],
            currency=index["货币种类"],
            amount=index[amount_name],
            amount_name=amount_name,
            fee=index["手续费"],
            rate=index.get("费率"),
            wx_refund_no=index.get("微信退款单号"),
            out_refund_no=index.get("商户退款单号"),
            refund_amount=index.get("退款金额"),
            refund_status=index.get("退款状态"),
            refund_applied_at=index.get("退款申请时间"),
            refund_done_at=index.get("退款成功时间"),
        )

    @property
    def variant(self) -> str:
        return f"{self.bill_type}_LEGACY" if self.legacy else self.bill_type


def parse_trade(
    source: Source,
    *,
    tz: tzinfo = DEFAULT_TZ,
    strict_totals: bool = True,
    currency: str = "CNY",
    encoding: str | None = None,
) -> ParsedStatement:
    """Parse a WeChat Pay trade bill (ALL, SUCCESS or REFUND; current or legacy layout). ``encoding``
    overrides the detection of the file's text encoding."""
    records, header, index = _open_bill(source, TRADE_SIGNATURE, Code.A_WECHAT_TRADE_BILL, encoding)
    layout = _TradeLayout.from_header(header, index, line=1)
    metadata = StatementMetadata(raw_columns=tuple(header), variant=layout.variant)
    totals = StatementTotals()
    warnings: list[ParseWarning] = []
    check = ControlCheck(strict=strict_totals, warnings=warnings)
    return ParsedStatement(
        format="WECHAT_TRADE",
        kind=StatementKind.BUSINESS,
        currency=currency,
        metadata=metadata,
        rows=_trade_rows(records, layout, metadata, totals, check, LocalDateTimeParser(tz), currency),
        totals=totals,
        warnings=warnings,
    )


def _trade_rows(
    records: CsvRecords,
    layout: _TradeLayout,
    metadata: StatementMetadata,
    totals: StatementTotals,
    check: ControlCheck,
    parse_dt: LocalDateTimeParser,
    default_currency: str,
) -> Iterator[StatementLineRow]:
    # Hot loop: a million rows must parse in a few seconds. Lines are read and split here rather
    # than through CsvRecords' generator; column indexes and sums live in locals; amounts are
    # parsed inline; timestamps (which repeat: a busy merchant has several payments per second)
    # are cached; rows are built with tuple.__new__, half the cost of the NamedTuple constructor,
    # with the values in field order. One try per row turns a FieldError into a located error.
    width, i_time, i_wx, i_out, i_state = layout.width, layout.time, layout.wx_no, layout.out_no, layout.state
    i_ccy, i_amount, amount_name, i_fee, i_rate = (layout.currency, layout.amount, layout.amount_name, layout.fee, layout.rate)
    read_time = _legacy_time(parse_dt) if layout.legacy else parse_dt
    new_row, row_type, decimal, invalid = tuple.__new__, StatementLineRow, Decimal, InvalidOperation
    collection, success = LineType.COLLECTION, LineStatus.SUCCESS
    times: dict[str, datetime] = {}
    rates: dict[str, Decimal | None] = {"": None}
    day_counts: Counter[str] = Counter()
    day, day_rows = "\x00", 0  # "\x00" is no timestamp's prefix: the first row starts a day
    count = refunds = 0
    # 应结订单金额 is summed per kind; refund rows usually show 0.00 there, but the summary counts all.
    collected = refunded = refund_settled = fees = ZERO
    summary = None
    line_no = records.line_no
    encoding = records.encoding
    refund_bill = layout.bill_type == "REFUND"
    for data in records.lines:
        line_no += 1
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            text = records.decode(data, line_no)  # raises, naming the line and field
        first = line_no
        if '"' in text:
            records.line_no = line_no
            raw, fields = records.quoted(text, line_no)
            line_no = records.line_no
        else:
            raw = text.rstrip("\r\n")
            fields = raw.split(",`")
            fields[0] = fields[0][1:]
        if not raw.startswith("`"):
            if not raw.strip():
                continue
            records.line_no = line_no
            if normalize_header(raw.split(",")[0]) == "总交易单数":
                summary = _read_summary(iter(records), line_no, raw.split(","))
                break
            raise StatementParseError(Message(Code.WECHAT_NO_BACKTICK), line=line_no)
        if len(fields) != width:
            fields = records.exact_fields(raw, first)
            if len(fields) != width:
                raise _wrong_length(first, len(fields), width)
        try:
            time_text = fields[i_time]
            occurred = times.get(time_text)
            if occurred is None:
                if len(times) >= _CACHE_LIMIT:
                    times.clear()
                occurred = times[time_text] = read_time(time_text, "交易时间")
            amount_text = fields[i_amount]
            fee_text = fields[i_fee]
            # The strip test rejects what Decimal would accept but a bill never holds (NaN, 1e5).
            if amount_text.strip(AMOUNT_CHARS):
                raise invalid
            amount = decimal(amount_text)
            if fee_text.strip(AMOUNT_CHARS):
                raise invalid
            fee = decimal(fee_text)
            rate_text = fields[i_rate] if i_rate is not None else ""
            rate = rates.get(rate_text, _UNSEEN)
            if rate is _UNSEEN:
                if len(rates) >= _CACHE_LIMIT:
                    rates.clear()
                rate = rates[rate_text] = parse_percent(rate_text, "费率")
            state = fields[i_state]
            if state == "SUCCESS":
                collected += amount
                row = new_row(
                    row_type,
                    (
                        first,
                        fields[i_wx],
                        fields[i_out],
                        collection,
                        success,
                        amount,
                        fee,
                        fields[i_ccy] or default_currency,
                        occurred,
                        occurred,
                        "",
                        "",
                        "",
                        "",
                        raw,
                        state,
                        rate,
                        None,  # business_date: the bill's day, or the channel's cutoff
                    ),
                )
            elif state in REFUND_STATES:
                row = _refund_row(first, raw, fields, layout, occurred, fee, rate, default_currency, read_time, check)
                if refund_bill and row.occurred_at is not occurred:
                    time_text = f"{row.occurred_at:%Y-%m-%d}"  # the period counts the refunds' days
                refunded += row.amount
                refund_settled += amount
                refunds += 1
            else:
                raise FieldError("交易状态", Message(Code.WECHAT_UNKNOWN_STATE, value=repr(state)))
        except FieldError as exc:
            raise exc.at(first) from None
        except invalid:
            raise _bad_amount(fields, ((amount_name, i_amount), ("手续费", i_fee))).at(first) from None
        fees += fee
        count += 1
        if not time_text.startswith(day):
            day_counts[day] += day_rows
            day, day_rows = time_text[:10], 0
        day_rows += 1
        yield row
    records.line_no = line_no
    day_counts[day] += day_rows
    _set_period(metadata, day_counts)
    totals.count = count
    totals.amount_by_type = {LineType.COLLECTION: collected, LineType.REFUND: refunded}
    totals.count_by_type = {LineType.COLLECTION: count - refunds, LineType.REFUND: refunds}
    totals.fee = fees
    totals.declared_fee = summary.amount("手续费总金额") if summary is not None else None
    _check_trade_summary(
        summary,
        layout,
        check,
        records.line_no,
        count=count,
        settled=collected + refund_settled,
        refunded=refunded,
        fees=fees,
    )
    totals.complete = True


def _bad_amount(fields: list[str], candidates: Sequence[tuple[str, int]]) -> FieldError:
    """Find which amount of a row failed (the hot loop only knows that one did)."""
    for name, position in candidates:
        try:
            parse_amount(fields[position], name)
        except FieldError as exc:
            return exc
    raise AssertionError("no invalid amount found")  # pragma: no cover - callers saw one fail


def _set_period(metadata: StatementMetadata, day_counts: Counter[str]) -> None:
    """Period and statement date from the rows' calendar days (the most frequent day wins)."""
    days = {day: rows for day, rows in day_counts.items() if day and rows}
    if not days:
        return
    metadata.period_start = date.fromisoformat(min(days))
    metadata.period_end = date.fromisoformat(max(days))
    metadata.statement_date = date.fromisoformat(max(days, key=days.__getitem__))


_CACHE_LIMIT = 65536  # entries per cache: bounded so memory stays flat on any file
_UNSEEN = object()  # a rate text not parsed yet (None is a valid cached result)


def _legacy_time(parse_dt: LocalDateTimeParser):
    def read(text: str, field_name: str):
        return parse_dt(text.replace("：", ":"), field_name)

    return read


def _refund_row(
    line_no: int,
    raw: str,
    fields: list[str],
    layout: _TradeLayout,
    occurred,
    fee: Decimal,
    rate: Decimal | None,
    default_currency: str,
    read_time: Callable[[str, str], datetime],
    check: ControlCheck,
) -> StatementLineRow:
    for name, position in (
        ("微信退款单号", layout.wx_refund_no),
        ("商户退款单号", layout.out_refund_no),
        ("退款金额", layout.refund_amount),
        ("退款状态", layout.refund_status),
    ):
        if position is None:
            raise FieldError(name, Message(Code.WECHAT_REFUND_COLUMN_MISSING))
    status_text = fields[layout.refund_status]
    status = REFUND_STATUS.get(status_text)
    if status is None:
        raise FieldError("退款状态", Message(Code.WECHAT_UNKNOWN_REFUND_STATUS, value=repr(status_text)))
    done_text = fields[layout.refund_done_at] if layout.refund_done_at is not None else ""
    applied_text = fields[layout.refund_applied_at] if layout.refund_applied_at is not None else ""
    completed = read_time(done_text, "退款成功时间") if done_text else None
    if layout.bill_type == "REFUND":
        # 交易时间 is the refunded payment's time here: the refund is dated by its own.
        if applied_text:
            occurred = read_time(applied_text, "退款申请时间")
        elif completed is not None:
            occurred = completed
        else:
            check.warnings.append(ParseWarning(line_no, "退款申请时间", Message(Code.WECHAT_REFUND_UNDATED)))
    if completed is None and status is LineStatus.SUCCESS:
        completed = occurred
    refund_no = fields[layout.wx_refund_no]
    return StatementLineRow(
        source_line=line_no,
        channel_txn_no=refund_no,
        txn_no=fields[layout.out_refund_no],
        line_type=LineType.REFUND,
        status=status,
        amount=abs(parse_amount(fields[layout.refund_amount], "退款金额")),
        fee=fee,
        currency=fields[layout.currency] or default_currency,
        occurred_at=occurred,
        completed_at=completed,
        refund_no=refund_no,
        original_channel_txn_no=fields[layout.wx_no],
        original_txn_no=fields[layout.out_no],
        raw=raw,
        type_code=fields[layout.state],
        fee_rate=rate,
    )


def _check_trade_summary(
    summary: _Summary | None,
    layout: _TradeLayout,
    check: ControlCheck,
    last_line: int,
    *,
    count: int,
    settled: Decimal,
    refunded: Decimal,
    fees: Decimal,
) -> None:
    if summary is None:
        check.fail(Message(Code.SUMMARY_MISSING, first="总交易单数"), line=last_line, field=None)
        return
    names = ("总交易额", "总退款金额") if layout.legacy else ("应结订单总金额", "退款总金额")
    declared_count = summary.count("总交易单数")
    if declared_count is None:
        raise StatementParseError(Message(Code.SUMMARY_LACKS, name="总交易单数"), line=summary.line, field="总交易单数")
    check.compare(declared_count, count, code=Code.SUMMARY_MISMATCH, name="总交易单数", line=summary.line, field="总交易单数")
    for name, parsed in ((names[0], settled), (names[1], refunded), ("手续费总金额", fees)):
        declared = summary.amount(name)
        if declared is not None:
            check.compare(declared, parsed, code=Code.SUMMARY_MISMATCH, name=name, line=summary.line, field=name)


# --- fund-flow bill ---------------------------------------------------------------------------

FUND_AMOUNT = "收支金额(元)"
FUND_BALANCE = "账户结余(元)"


def parse_fund(
    source: Source,
    *,
    tz: tzinfo = DEFAULT_TZ,
    strict_totals: bool = True,
    currency: str = "CNY",
    account_ref: str = "",
    encoding: str | None = None,
) -> ParsedStatement:
    """Parse a WeChat Pay fund-flow bill (资金账单). The file names no account: pass ``account_ref``.
    ``encoding`` overrides the detection of the file's text encoding."""
    records, header, index = _open_bill(source, FUND_SIGNATURE, Code.A_WECHAT_FUND_BILL, encoding)
    require_columns(index, ("记账时间", "资金流水单号", "收支类型", FUND_AMOUNT), line=1)
    metadata = StatementMetadata(account_ref=account_ref, raw_columns=tuple(header), variant="FUND")
    totals = StatementTotals()
    warnings: list[ParseWarning] = []
    check = ControlCheck(strict=strict_totals, warnings=warnings)
    return ParsedStatement(
        format="WECHAT_FUND",
        kind=StatementKind.FUND,
        currency=currency,
        metadata=metadata,
        rows=_fund_rows(records, header, index, metadata, totals, check, LocalDateTimeParser(tz), currency),
        totals=totals,
        warnings=warnings,
    )


def _fund_rows(
    records: CsvRecords,
    header: list[str],
    index: dict[str, int],
    metadata: StatementMetadata,
    totals: StatementTotals,
    check: ControlCheck,
    parse_dt: LocalDateTimeParser,
    currency: str,
) -> Iterator[FundMovementRow]:
    width = len(header)

    def text(fields: list[str], name: str) -> str:
        position = index.get(name)
        return fields[position].strip() if position is not None else ""

    summary = None
    days: Counter[str] = Counter()
    rows = iter(records)
    for line_no, raw, fields in rows:
        if not raw.startswith("`"):
            if not raw.strip():
                continue
            if normalize_header(fields[0]) == "资金流水总笔数":
                summary = _read_summary(rows, line_no, fields)
                break
            raise StatementParseError(Message(Code.WECHAT_NO_BACKTICK), line=line_no)
        if len(fields) != width:
            fields = records.exact_fields(raw, line_no)
            if len(fields) != width:
                raise _wrong_length(line_no, len(fields), width)
        try:
            booked_text = text(fields, "记账时间")
            booked_at = parse_dt(booked_text, "记账时间")
            kind_text = text(fields, "收支类型")
            direction = FUND_DIRECTION.get(kind_text)
            if direction is None:
                raise FieldError("收支类型", Message(Code.WECHAT_UNKNOWN_FUND_KIND, value=repr(kind_text)))
            amount = abs(parse_amount(text(fields, FUND_AMOUNT), FUND_AMOUNT))
            balance_text = text(fields, FUND_BALANCE)
            balance = parse_amount(balance_text, FUND_BALANCE) if balance_text else None
        except FieldError as exc:
            raise exc.at(line_no) from None
        memo = " / ".join(part for part in (text(fields, "业务名称"), text(fields, "业务类型"), text(fields, "备注")) if part)
        totals.add(direction, amount)
        days[booked_text[:10]] += 1
        yield FundMovementRow(
            source_line=line_no,
            account_ref=metadata.account_ref,
            booking_date=booked_at.date(),
            booked_at=booked_at,
            value_date=None,
            direction=direction,
            amount=amount,
            balance_after=balance,
            currency=currency,
            memo=memo,
            bank_ref=text(fields, "资金流水单号"),
            raw=raw,
            business_ref=text(fields, "微信支付业务单号"),
        )
    _set_period(metadata, days)
    _check_fund_summary(summary, totals, check, records.line_no)
    totals.complete = True


def _check_fund_summary(summary: _Summary | None, totals: StatementTotals, check: ControlCheck, last_line: int) -> None:
    if summary is None:
        check.fail(Message(Code.SUMMARY_MISSING, first="资金流水总笔数"), line=last_line, field=None)
        return
    parsed = {
        "资金流水总笔数": totals.count,
        "收入笔数": totals.count_by_type.get(Direction.CREDIT, 0),
        "支出笔数": totals.count_by_type.get(Direction.DEBIT, 0),
    }
    for name, value in parsed.items():
        declared = summary.count(name)
        if declared is not None:
            check.compare(declared, value, code=Code.SUMMARY_MISMATCH, name=name, line=summary.line, field=name)
    for name, key in (("收入金额", Direction.CREDIT), ("支出金额", Direction.DEBIT)):
        declared_amount = summary.amount(name)
        if declared_amount is not None:
            check.compare(
                abs(declared_amount),
                totals.amount_by_type.get(key, ZERO),
                code=Code.SUMMARY_MISMATCH,
                name=name,
                line=summary.line,
                field=name,
            )
