"""Alipay merchant bills: 业务明细 (trade, business detail) and 账务明细 (account, fund detail).

GBK text (decoded as GB18030, its superset); a bill re-saved as UTF-8 (with or without BOM) is read
too: unless ``encoding`` is given, the head of the file decides (``charset.bill_encoding``). A
consumer's bill exported from a personal Alipay account (支付宝交易记录明细查询) is refused as a
personal bill (``personal``). Delivered as a CSV or a ZIP holding
``…_业务明细.csv`` (plus ``…_业务明细(汇总).csv``, ignored: the footer of the detail file is
checked instead) or ``…_账务明细.csv``. Layout:

    #支付宝业务明细查询                          comment lines start with '#'
    #账号：[20880…]                              -> metadata.account_ref
    #起始日期：[2019年09月16日 00:00:00]   终止日期：[2019年09月17日 00:00:00]
    #-----…业务明细列表…-----
    header line (columns found by name)
    rows; values carry a trailing tab before the comma ("2019…5453\t,")
    #-----…业务明细列表结束…-----
    #交易合计：6笔，商家实收共0.06元，商家优惠共0.00元     footers checked against the rows
    #退款合计：4笔，商家实收退款共-0.04元，商家优惠退款共0.00元
    #导出时间：[…]

Trade rows: 业务类型 交易 -> COLLECTION, 退款 -> REFUND (others are an error). amount = |商家实收|,
the amount Alipay settles to us; fee = -服务费 (Alipay writes a charged fee as negative);
channel_txn_no = 支付宝交易号 (a refund keeps the order's, Alipay gives refunds no serial of their
own); a refund's txn_no and refund_no = 退款批次号/请求号 (the refund request number we sent) and
original_* = 支付宝交易号/商户订单号. Account rows: 收入金额 -> CREDIT, 支出金额 -> DEBIT (magnitude),
balance_after = 账户余额, bank_ref = 账务流水号, business_ref = 业务流水号.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal

from . import personal
from .base import (
    DEFAULT_ARCHIVE_LIMITS,
    DEFAULT_TZ,
    ZERO,
    ArchiveLimits,
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
    is_zip,
    open_source,
    parse_amount,
    require_columns,
    zip_member,
)
from .charset import bill_encoding, checked, head_of
from .messages import Code, Message

ENCODING = "gb18030"  # what Alipay writes (GBK; GB18030 is its superset)
TRADE_TYPES = {"交易": LineType.COLLECTION, "退款": LineType.REFUND}
TRADE_REQUIRED = ("支付宝交易号", "商户订单号", "业务类型", "创建时间", "完成时间", "商家实收(元)", "服务费(元)")
ACCOUNT_REQUIRED = ("账务流水号", "发生时间", "收入金额(+元)", "支出金额(-元)")
_PERIOD = re.compile(
    r"起始日期：\[(\d{4})年(\d{2})月(\d{2})日 ([\d:]{8})\]\s*终止日期：\[(\d{4})年(\d{2})月(\d{2})日 ([\d:]{8})\]"
)
_FOOTER = re.compile(r"^#(\S+?)合计：(\d{1,12})笔，(.*)$")
_FOOTER_AMOUNT = re.compile(r"共(-?\d+(?:\.\d+)?)元")


def footer_amounts(text: str) -> list[tuple[str, Decimal]]:
    """(label, amount) of each "<label>共<amount>元" clause of a footer, a label running back to the previous
    clause or '，'. Linear in the line: a label pattern searched from every position (``[^，]*?共…``) took
    quadratic time, minutes on a damaged file's long line."""
    pairs, end = [], 0
    for found in _FOOTER_AMOUNT.finditer(text):
        start = max(end, text.rfind("，", end, found.start()) + 1)
        pairs.append((text[start : found.start()], Decimal(found[1])))
        end = found.end()
    return pairs


def raw_fields(raw: str, raw_columns: Sequence[str]) -> list[tuple[str, str]]:
    """(column, value) pairs of a row, trailing tabs removed."""
    return csv_raw_fields(raw, raw_columns, strip="\t ")


def parse_trade(
    source: Source,
    *,
    tz: tzinfo = DEFAULT_TZ,
    strict_totals: bool = True,
    currency: str = "CNY",
    archive_limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
    encoding: str | None = None,
) -> ParsedStatement:
    """Parse an Alipay 业务明细 (trade) bill, as CSV bytes or the ZIP Alipay delivers (expanded under
    ``archive_limits``). ``encoding`` overrides the detection of the file's text encoding."""
    bill = _Bill.open(
        source,
        member_suffix="业务明细.csv",
        signature="支付宝交易号",
        what=Code.AN_ALIPAY_TRADE_BILL,
        archive_limits=archive_limits,
        encoding=encoding,
    )
    require_columns(bill.index, TRADE_REQUIRED, bill.header_line)
    return bill.statement(
        "ALIPAY_TRADE", StatementKind.BUSINESS, currency, strict_totals, _TradeReader(bill, LocalDateTimeParser(tz), currency)
    )


def parse_account(
    source: Source,
    *,
    tz: tzinfo = DEFAULT_TZ,
    strict_totals: bool = True,
    currency: str = "CNY",
    archive_limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
    encoding: str | None = None,
) -> ParsedStatement:
    """Parse an Alipay 账务明细 (account / fund) bill, as CSV bytes or the ZIP Alipay delivers (expanded
    under ``archive_limits``). ``encoding`` overrides the detection of the file's text encoding."""
    bill = _Bill.open(
        source,
        member_suffix="账务明细.csv",
        signature="账务流水号",
        what=Code.AN_ALIPAY_ACCOUNT_BILL,
        archive_limits=archive_limits,
        encoding=encoding,
    )
    require_columns(bill.index, ACCOUNT_REQUIRED, bill.header_line)
    return bill.statement(
        "ALIPAY_ACCOUNT", StatementKind.FUND, currency, strict_totals, _AccountReader(bill, LocalDateTimeParser(tz), currency)
    )


class _Bill:
    """The comment header and the column header of an Alipay bill; rows follow in ``records``."""

    def __init__(self, records: CsvRecords, header: list[str], header_line: int, metadata: StatementMetadata) -> None:
        self.records = records
        self.header = header
        self.header_line = header_line
        self.index = header_index(header)
        self.metadata = metadata

    @classmethod
    def open(
        cls,
        source: Source,
        *,
        member_suffix: str,
        signature: str,
        what: Code,
        archive_limits: ArchiveLimits,
        encoding: str | None,
    ) -> _Bill:
        stream = open_source(source)
        if is_zip(stream):
            stream = zip_member(stream, lambda names: _pick_member(names, member_suffix), member_suffix, archive_limits)
        encoding = checked(encoding) if encoding else bill_encoding(head_of(stream), default=ENCODING)
        records = CsvRecords(iter(stream), encoding=encoding)
        metadata = StatementMetadata()
        seen_any = False
        for line_no, raw, fields in records:
            seen_any = seen_any or bool(raw.strip())
            if "\x00" in raw:
                raise StatementParseError(Message(Code.ALIPAY_NUL_ABOVE_HEADER), line=line_no)
            if raw.startswith("#"):
                try:
                    _read_comment(raw, metadata)
                except FieldError as exc:
                    raise exc.at(line_no) from None
                continue
            if not raw.strip():
                continue
            header = [name.strip() for name in fields]
            if signature not in header_index(header):
                personal.refuse_if_personal(iter(records), (line_no, raw, fields))
                raise StatementParseError(Message(Code.HEADER_NOT_FOUND, what=Message(what), signature=signature), line=line_no)
            metadata.raw_columns = tuple(header)
            records.header = header
            return cls(records, header, line_no, metadata)
        if not seen_any:
            raise StatementParseError(Message(Code.EMPTY_FILE, what=Message(what)))
        raise StatementParseError(Message(Code.NO_HEADER_FOUND, what=Message(what), signature=signature))

    def statement(self, code: str, kind: StatementKind, currency: str, strict: bool, reader: _Reader) -> ParsedStatement:
        totals = StatementTotals()
        warnings: list[ParseWarning] = []
        reader.check = ControlCheck(strict=strict, warnings=warnings)
        reader.totals = totals
        return ParsedStatement(
            format=code,
            kind=kind,
            currency=currency,
            metadata=self.metadata,
            rows=reader.rows(),
            totals=totals,
            warnings=warnings,
        )


def _pick_member(names: list[str], suffix: str) -> str | None:
    for name in names:
        if name.endswith(suffix) and "汇总" not in name:
            return name
    return None


def _read_comment(raw: str, metadata: StatementMetadata) -> None:
    text = raw.strip().rstrip(",")
    if text.startswith("#账号："):
        metadata.account_ref = text[len("#账号：") :].strip("[] ")
        return
    match = _PERIOD.search(text)
    if match:
        try:
            start = date(int(match[1]), int(match[2]), int(match[3]))
            end = date(int(match[5]), int(match[6]), int(match[7]))
        except ValueError as exc:
            raise FieldError("起始日期", Message(Code.ALIPAY_BAD_PERIOD, detail=str(exc))) from None
        if match[8] == "00:00:00" and end > start:  # an end at midnight is exclusive
            end -= timedelta(days=1)
        metadata.period_start, metadata.period_end = start, end
        metadata.statement_date = start if start == end else None


class _Reader(abc.ABC):
    """Row loop shared by both bills: rows until the end marker, then footers to check."""

    check: ControlCheck
    totals: StatementTotals

    def __init__(self, bill: _Bill, parse_dt: LocalDateTimeParser, currency: str) -> None:
        self.bill = bill
        self.parse_dt = parse_dt
        self.currency = currency
        self.index = bill.index
        self.width = len(bill.header)

    def value(self, fields: list[str], name: str) -> str:
        position = self.index.get(name)
        return fields[position].strip("\t ") if position is not None and position < len(fields) else ""

    def amount(self, fields: list[str], name: str) -> Decimal:
        text = self.value(fields, name)
        return parse_amount(text, name) if text else ZERO

    def time(self, fields: list[str], name: str) -> datetime | None:
        text = self.value(fields, name)
        return self.parse_dt(text, name) if text else None

    def rows(self) -> Iterator:
        records = self.bill.records
        footers: dict[str, tuple[int, int, list[tuple[str, Decimal]]]] = {}
        in_rows = True
        for line_no, raw, fields in records:
            if raw.startswith("#"):
                in_rows = False
                footer = _FOOTER.match(raw.strip())
                if footer:
                    amounts = footer_amounts(footer[3])
                    footers[footer[1]] = (line_no, int(footer[2]), amounts)
                continue
            if not raw.strip():
                continue
            if not in_rows:
                raise StatementParseError(Message(Code.ALIPAY_ROW_AFTER_END), line=line_no)
            if len(fields) != self.width:
                raise StatementParseError(Message(Code.ROW_WIDTH, found=len(fields), expected=self.width), line=line_no)
            try:
                yield self.row(line_no, raw, fields)
            except FieldError as exc:
                raise exc.at(line_no) from None
        self.check_footers(footers, records.line_no)
        self.totals.complete = True

    @abc.abstractmethod
    def row(self, line_no: int, raw: str, fields: list[str]):
        """The typed row of one detail line of this bill."""

    @abc.abstractmethod
    def check_footers(self, footers: dict, last_line: int) -> None:
        """Check the bill's footer totals against the rows read."""

    def require_footer(self, footers: dict, name: str, last_line: int):
        found = footers.get(name)
        if found is None:
            self.check.fail(Message(Code.ALIPAY_FOOTER_MISSING, name=name), line=last_line, field=None)
        return found


class _TradeReader(_Reader):
    def __init__(self, bill: _Bill, parse_dt: LocalDateTimeParser, currency: str) -> None:
        super().__init__(bill, parse_dt, currency)
        # Signed sums as the footers state them: 商家实收 and 商家优惠 per 业务类型.
        self.sums = {kind: [0, ZERO, ZERO] for kind in TRADE_TYPES}

    def row(self, line_no: int, raw: str, fields: list[str]) -> StatementLineRow:
        type_text = self.value(fields, "业务类型")
        line_type = TRADE_TYPES.get(type_text)
        if line_type is None:
            raise FieldError("业务类型", Message(Code.ALIPAY_UNKNOWN_TYPE, value=repr(type_text)))
        received = self.amount(fields, "商家实收(元)")
        sums = self.sums[type_text]
        sums[0] += 1
        sums[1] += received
        sums[2] += self.amount(fields, "商家优惠(元)")
        fee = -self.amount(fields, "服务费(元)")
        amount = abs(received)
        self.totals.add(line_type, amount, fee)
        trade_no = self.value(fields, "支付宝交易号")
        order_no = self.value(fields, "商户订单号")
        refund_no = self.value(fields, "退款批次号/请求号") if line_type is LineType.REFUND else ""
        is_refund = line_type is LineType.REFUND
        return StatementLineRow(
            source_line=line_no,
            channel_txn_no=trade_no,
            txn_no=refund_no if is_refund else order_no,
            line_type=line_type,
            status=LineStatus.SUCCESS,
            amount=amount,
            fee=fee,
            currency=self.currency,
            occurred_at=self.time(fields, "创建时间"),
            completed_at=self.time(fields, "完成时间"),
            refund_no=refund_no,
            original_channel_txn_no=trade_no if is_refund else "",
            original_txn_no=order_no if is_refund else "",
            raw=raw,
            type_code=type_text,
        )

    def check_footers(self, footers: dict, last_line: int) -> None:
        for kind, name in (("交易", "交易"), ("退款", "退款")):
            found = self.require_footer(footers, name, last_line)
            if found is None:
                continue
            line, count, amounts = found
            parsed_count, received, discount = self.sums[kind]
            field = f"#{name}合计"
            self.check.compare(count, parsed_count, code=Code.ALIPAY_FOOTER_COUNT_MISMATCH, footer=field, line=line, field=field)
            for label, declared in amounts:
                parsed = discount if "优惠" in label else received
                self.check.compare(
                    declared, parsed, code=Code.ALIPAY_FOOTER_SUM_MISMATCH, footer=field, label=label, line=line, field=field
                )


class _AccountReader(_Reader):
    def row(self, line_no: int, raw: str, fields: list[str]) -> FundMovementRow:
        income = self.amount(fields, "收入金额(+元)")
        expense = self.amount(fields, "支出金额(-元)")
        if income and expense:
            raise FieldError("支出金额(-元)", Message(Code.ALIPAY_BOTH_AMOUNTS))
        direction = Direction.DEBIT if expense else Direction.CREDIT
        amount = abs(expense or income)
        booked_at = self.time(fields, "发生时间")
        if booked_at is None:
            raise FieldError("发生时间", Message(Code.VALUE_EMPTY))
        balance_text = self.value(fields, "账户余额(元)")
        self.totals.add(direction, amount)
        memo = " / ".join(part for part in (self.value(fields, "商品名称"), self.value(fields, "备注")) if part)
        return FundMovementRow(
            source_line=line_no,
            account_ref=self.bill.metadata.account_ref,
            booking_date=booked_at.date(),
            booked_at=booked_at,
            value_date=None,
            direction=direction,
            amount=amount,
            balance_after=parse_amount(balance_text, "账户余额(元)") if balance_text else None,
            currency=self.currency,
            counterparty_account=self.value(fields, "对方账号"),
            memo=memo,
            bank_ref=self.value(fields, "账务流水号"),
            raw=raw,
            business_ref=self.value(fields, "业务流水号"),
        )

    def check_footers(self, footers: dict, last_line: int) -> None:
        for name, direction in (("支出", Direction.DEBIT), ("收入", Direction.CREDIT)):
            found = self.require_footer(footers, name, last_line)
            if found is None:
                continue
            line, count, amounts = found
            field = f"#{name}合计"
            parsed_count = self.totals.count_by_type.get(direction, 0)
            self.check.compare(count, parsed_count, code=Code.ALIPAY_FOOTER_COUNT_MISMATCH, footer=field, line=line, field=field)
            parsed_sum = self.totals.amount_by_type.get(direction, ZERO)
            for _label, declared in amounts:
                self.check.compare(
                    abs(declared), parsed_sum, code=Code.ALIPAY_FOOTER_AMOUNT_MISMATCH, footer=field, line=line, field=field
                )
