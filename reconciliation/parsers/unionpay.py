"""UnionPay online channel (全渠道) ZM settlement detail file.

Fixed-width GBK records, one space between fields, sliced by BYTES (a Chinese character takes two
bytes). Delivered bare or as ``<merId>_<yyyymmdd>.zip`` holding ``INN<yymmdd>88ZM_<merId>`` (the
transactions) and ``INN<yymmdd>88ZME_<merId>`` (records UnionPay could not settle: each of its lines
becomes a warning). Amounts are in fen. 交易传输时间 is MMDDhhmmss without a year: the year comes from
the file date (the ZIP member name, or the ``file_date`` option).

Older files end in one 131-byte reserved block instead of the two last reserved fields (32 + space
+ 98 = the same 131 bytes), so both are read alike: the reserved area is not looked into, and may
also have been trimmed of its trailing spaces.

交易代码 -> line type (codes not listed map to OTHER; ``type_code`` keeps the code):
    S22 消费 (purchase)                          COLLECTION
    S30 消费撤销 (purchase cancellation)          REFUND
    S31 退货 (refund)                             REFUND
商户手续费 is "D" or "C" and 12 digits in fen: D = debited to us (charged, positive fee), C = credited
back to us (negative fee); 13 plain digits are read as charged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import BinaryIO

from .base import (
    DEFAULT_ARCHIVE_LIMITS,
    DEFAULT_TZ,
    Archive,
    ArchiveLimits,
    FieldError,
    LineStatus,
    LineType,
    ParsedStatement,
    ParseWarning,
    Source,
    StatementKind,
    StatementLineRow,
    StatementMetadata,
    StatementParseError,
    StatementTotals,
    as_aware,
    fen_to_yuan,
    is_zip,
    open_source,
)
from .messages import Code, Message, names_or_none

ENCODING = "gb18030"

# (name, width in bytes) in file order; fields are separated by one space.
ZM_FIELDS: tuple[tuple[str, int], ...] = (
    ("交易代码", 3),
    ("代理机构标识码", 11),
    ("发送机构标识码", 11),
    ("系统跟踪号", 6),
    ("交易传输时间", 10),
    ("帐号", 19),
    ("交易金额", 12),
    ("商户类别", 4),
    ("终端类型", 2),
    ("查询流水号", 21),
    ("支付方式(旧)", 2),
    ("商户订单号", 32),
    ("支付卡类型", 2),
    ("原始交易的系统跟踪号", 6),
    ("原始交易日期时间", 10),
    ("商户手续费", 13),
    ("结算金额", 13),
    ("支付方式", 4),
    ("集团商户代码", 15),
    ("交易类型", 2),
    ("交易子类", 2),
    ("业务类型", 6),
    ("帐号类型", 2),
    ("账单类型", 4),
    ("账单号码", 32),
    ("交互方式", 1),
    ("原交易查询流水号", 21),
    ("商户代码", 15),
    ("分账入账方式", 1),
    ("二级商户代码", 15),
    ("二级商户简称", 32),
    ("二级商户分账入账金额", 13),
    ("清算净额", 13),
    ("终端号", 8),
    ("商户自定义域", 32),
    ("优惠金额", 13),
    ("发票金额", 13),
    ("分期付款附加手续费", 12),
    ("分期付款期数", 2),
    ("交易介质", 1),
    ("保留使用", 32),
    ("保留使用2", 98),
)
ZM_NAMES = tuple(name for name, _ in ZM_FIELDS)
# Byte slice of every field.
ZM_SLICES: dict[str, slice] = {}
_offset = 0
for _name, _width in ZM_FIELDS:
    ZM_SLICES[_name] = slice(_offset, _offset + _width)
    _offset += _width + 1
ZM_LINE_BYTES = _offset - 1
# Bytes up to the end of 交易介质, the last data field; the reserved area after it may be trimmed.
ZM_DATA_BYTES = ZM_SLICES["交易介质"].stop
_SEPARATORS = tuple(ZM_SLICES[name].stop for name in ZM_NAMES[:-3])

ZM_LINE_TYPES = {"S22": LineType.COLLECTION, "S30": LineType.REFUND, "S31": LineType.REFUND}
# Codes the writer uses for each line type.
ZM_WRITE_CODES = {LineType.COLLECTION: "S22", LineType.REFUND: "S31"}
_ZM_MEMBER = re.compile(r"INN(\d{6})\d\dZM_")
_ZME_MEMBER = re.compile(r"INN\d{6}\d\dZME_")
# Bounds on reading the ZME error member, whose lines all become warnings kept on the file.
ZME_MAX_RECORDS = 1000
ZME_MAX_LINE_BYTES = 4 * ZM_LINE_BYTES


def raw_fields(raw: str, raw_columns: Sequence[str] = ZM_NAMES) -> list[tuple[str, str]]:
    """(field, value) pairs of a ZM record, sliced by bytes as in the file."""
    data = raw.encode(ENCODING)
    pairs = []
    for name in raw_columns:
        piece = data[ZM_SLICES[name]]
        pairs.append((name, piece.decode(ENCODING, errors="replace").strip()))
    return pairs


def looks_like_zm(line: bytes) -> bool:
    """True when a line has the ZM record shape: its length and the spaces between fields."""
    line = line.rstrip(b"\r\n")
    return (
        ZM_DATA_BYTES <= len(line) <= ZM_LINE_BYTES
        and line[:3].isalnum()
        and all(line[position] == 0x20 for position in _SEPARATORS)
    )


def parse_zm(
    source: Source,
    *,
    tz: tzinfo = DEFAULT_TZ,
    strict_totals: bool = True,
    currency: str = "CNY",
    file_date: date | None = None,
    archive_limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
) -> ParsedStatement:
    """Parse a ZM file, bare or zipped. ``file_date`` dates a bare file (the ZIP names its own);
    ``archive_limits`` bounds what a ZIP may expand to.

    The ZM file declares no totals, so ``strict_totals`` has nothing to check; it is accepted for a
    uniform interface.
    """
    stream = open_source(source)
    warnings: list[ParseWarning] = []
    zipped = is_zip(stream)
    if zipped:
        stream, zip_date = _open_zip(stream, warnings, archive_limits)
        file_date = file_date or zip_date
    first = stream.readline()
    # A delivered ZIP may hold an empty ZM file (a day without transactions); a bare empty file
    # is more likely a failed download.
    if not first.strip() and not zipped:
        raise StatementParseError(Message(Code.EMPTY_FILE, what=Message(Code.A_UNIONPAY_ZM_FILE)))
    if first.strip() and not looks_like_zm(first):
        found = len(first.rstrip(b"\r\n"))
        raise StatementParseError(Message(Code.ZM_WRONG_RECORDS, expected=ZM_LINE_BYTES, found=found), line=1)
    if file_date is None:
        warnings.append(ParseWarning(None, "交易传输时间", Message(Code.ZM_NO_FILE_DATE)))
    metadata = StatementMetadata(raw_columns=ZM_NAMES, statement_date=file_date, variant="ZM")
    if file_date is not None:
        metadata.period_start = metadata.period_end = file_date
    totals = StatementTotals()
    lines = _chain_first(first, stream)
    return ParsedStatement(
        format="UNIONPAY_ZM",
        kind=StatementKind.BUSINESS,
        currency=currency,
        metadata=metadata,
        rows=_rows(lines, totals, tz, currency, file_date),
        totals=totals,
        warnings=warnings,
    )


def _chain_first(first: bytes, stream: BinaryIO) -> Iterator[bytes]:
    yield first
    # readline, not iteration: some file objects (Django's File, which the intake hands over) iterate from the
    # start of the file whatever was read already, which would read the first record twice.
    yield from iter(stream.readline, b"")


def _open_zip(stream: BinaryIO, warnings: list[ParseWarning], limits: ArchiveLimits) -> tuple[BinaryIO, date | None]:
    archive = Archive(stream, limits)
    names = archive.names
    zm_name = next((name for name in names if _ZM_MEMBER.search(name)), None)
    if zm_name is None:
        raise StatementParseError(Message(Code.ZM_NO_MEMBER, members=names_or_none(names)))
    for name in names:
        if _ZME_MEMBER.search(name):
            _read_error_records(archive, name, warnings)
    stamp = _ZM_MEMBER.search(zm_name)[1]
    try:
        zip_date = date(2000 + int(stamp[:2]), int(stamp[2:4]), int(stamp[4:]))
    except ValueError:
        raise StatementParseError(Message(Code.ZM_MEMBER_DATE, member=repr(zm_name), stamp=stamp)) from None
    return archive.open(zm_name), zip_date


def _read_error_records(archive: Archive, name: str, warnings: list[ParseWarning]) -> None:
    """Each line of the ZME member becomes a warning; only the first ZME_MAX_RECORDS are kept (they are read
    into the file's warnings, so a huge member is cut short rather than held in memory)."""
    with archive.open(name) as member:
        line_no = 0
        while line := member.readline(ZME_MAX_LINE_BYTES):
            line_no += 1
            if line_no > ZME_MAX_RECORDS:
                warnings.append(ParseWarning(line_no, None, Message(Code.ZME_TRUNCATED, member=name, limit=ZME_MAX_RECORDS)))
                return
            if line.strip():
                text = line.decode(ENCODING, errors="replace").strip()
                warnings.append(ParseWarning(line_no, None, Message(Code.ZME_RECORD, member=name, record=text)))


def _text(data: bytes, name: str) -> str:
    try:
        return data[ZM_SLICES[name]].decode(ENCODING).strip()
    except UnicodeDecodeError:
        raise FieldError(name, Message(Code.ZM_FIELD_NOT_GBK)) from None


def _fee(text: str) -> Decimal:
    sign, digits = (text[0], text[1:]) if text[:1] in ("C", "D") else ("D", text)
    amount = fen_to_yuan(digits, "商户手续费")
    return -amount if sign == "C" else amount


def _transmitted_at(text: str, file_date: date | None, tz: tzinfo, name: str) -> datetime | None:
    """MMDDhhmmss in the year of the file; a December time in a January file is last year's."""
    if file_date is None or not text.strip("0"):
        return None
    if not (len(text) == 10 and text.isascii() and text.isdigit()):
        raise FieldError(name, Message(Code.ZM_NOT_A_TIME, value=repr(text)))
    month = int(text[:2])
    year = file_date.year - 1 if month > file_date.month + 6 else file_date.year
    try:
        local = datetime(year, month, int(text[2:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]))
    except ValueError:
        raise FieldError(name, Message(Code.ZM_NOT_A_TIME, value=repr(text))) from None
    return as_aware(local, tz)


def _rows(
    lines: Iterator[bytes], totals: StatementTotals, tz: tzinfo, currency: str, file_date: date | None
) -> Iterator[StatementLineRow]:
    for line_no, data in enumerate(lines, start=1):
        data = data.rstrip(b"\r\n")
        if not data.strip():
            continue
        if not ZM_DATA_BYTES <= len(data) <= ZM_LINE_BYTES:
            raise StatementParseError(Message(Code.ZM_RECORD_LENGTH, found=len(data), expected=ZM_LINE_BYTES), line=line_no)
        try:
            raw = data.decode(ENCODING)
        except UnicodeDecodeError as exc:
            field_name = next((n for n in ZM_NAMES if ZM_SLICES[n].start <= exc.start < ZM_SLICES[n].stop + 1), None)
            raise StatementParseError(Message(Code.ZM_NOT_GBK), line=line_no, field=field_name) from None
        for position in _SEPARATORS:
            if data[position] != 0x20:
                name = next(n for n in ZM_NAMES if ZM_SLICES[n].stop == position)
                raise StatementParseError(Message(Code.ZM_FIELDS_SHIFTED, byte=position + 1), line=line_no, field=name)
        try:
            yield _row(line_no, data, raw, totals, tz, currency, file_date)
        except FieldError as exc:
            raise exc.at(line_no) from None
    totals.complete = True


def _row(
    line_no: int, data: bytes, raw: str, totals: StatementTotals, tz: tzinfo, currency: str, file_date: date | None
) -> StatementLineRow:
    code = _text(data, "交易代码")
    line_type = ZM_LINE_TYPES.get(code, LineType.OTHER)
    amount = fen_to_yuan(_text(data, "交易金额"), "交易金额")
    fee = _fee(_text(data, "商户手续费"))
    query_id = _text(data, "查询流水号")
    is_refund = line_type is LineType.REFUND
    totals.add(line_type, amount, fee)
    return StatementLineRow(
        source_line=line_no,
        channel_txn_no=query_id,
        txn_no=_text(data, "商户订单号"),
        line_type=line_type,
        status=LineStatus.SUCCESS,  # the ZM file lists settled transactions only
        amount=amount,
        fee=fee,
        currency=currency,
        occurred_at=_transmitted_at(_text(data, "交易传输时间"), file_date, tz, "交易传输时间"),
        completed_at=None,
        refund_no=query_id if is_refund else "",
        original_channel_txn_no=_text(data, "原交易查询流水号"),
        raw=raw,
        type_code=code,
    )
