"""Shared types and helpers of the statement parsers.

Parsers are pure: bytes (or a binary stream) in, typed rows out. They never import Django and keep no
global state. Rows are produced lazily by an iterator so a file of a million lines never sits in
memory as objects; totals and warnings are complete once that iterator is exhausted.

Row types are ``NamedTuple``s rather than frozen dataclasses: they are just as immutable, but a
17-field frozen dataclass costs about 3-4 µs to build (every field goes through
``object.__setattr__``) against 0.7 µs for a named tuple, and parsing speed is a product requirement.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import BinaryIO, NamedTuple
from zoneinfo import ZoneInfo

from .messages import Code, Message, names_or_none

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
ZERO = Decimal("0")

Source = bytes | bytearray | memoryview | BinaryIO


class StatementKind(StrEnum):
    BUSINESS = "BUSINESS"
    FUND = "FUND"


class LineType(StrEnum):
    COLLECTION = "COLLECTION"
    REFUND = "REFUND"
    PAYOUT = "PAYOUT"
    BATCH_PAYOUT = "BATCH_PAYOUT"
    RECHARGE = "RECHARGE"
    OTHER = "OTHER"


class LineStatus(StrEnum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    PROCESSING = "PROCESSING"


class Direction(StrEnum):
    DEBIT = "DEBIT"
    CREDIT = "CREDIT"


class StatementLineRow(NamedTuple):
    """One line of a business-detail statement.

    ``amount`` is always a positive magnitude: ``line_type`` says the direction. ``fee`` is what the
    channel charges us: positive = charged, negative = returned (e.g. on a refund). For a refund,
    ``channel_txn_no``/``txn_no`` identify the refund itself where the channel gives it its own
    serials, and ``original_*`` point at the refunded order.
    """

    source_line: int
    channel_txn_no: str
    txn_no: str
    line_type: LineType
    status: LineStatus
    amount: Decimal
    fee: Decimal
    currency: str
    occurred_at: datetime | None
    completed_at: datetime | None
    refund_no: str = ""
    original_channel_txn_no: str = ""
    original_txn_no: str = ""
    batch_ref: str = ""
    raw: str = ""
    # The channel's own code for the line's kind (WeChat 交易状态, Alipay 业务类型, UnionPay 交易代码),
    # kept so that an unknown code mapped to OTHER can still be shown and investigated.
    type_code: str = ""
    # The rate the channel applied, as a fraction (0.60% -> Decimal("0.0060")); None if not given.
    fee_rate: Decimal | None = None
    # The business date the statement gives the line itself (e.g. a clearing-date column); None: the line
    # is dated by its time under the channel's cutoff, else by the statement's date.
    business_date: date | None = None


class BatchItem(NamedTuple):
    """One transaction inside a batch fund movement (one debit, many payouts)."""

    amount: Decimal
    currency: str
    reference: str  # end-to-end id: the reference we gave the payment
    bank_ref: str = ""
    counterparty_name: str = ""
    counterparty_account: str = ""
    memo: str = ""


class FundMovementRow(NamedTuple):
    """One debit or credit on one of our bank accounts. ``amount`` is a positive magnitude."""

    source_line: int
    account_ref: str
    booking_date: date
    booked_at: datetime | None
    value_date: date | None
    direction: Direction
    amount: Decimal
    balance_after: Decimal | None
    currency: str
    counterparty_name: str = ""
    counterparty_account: str = ""
    memo: str = ""
    bank_ref: str = ""
    batch_ref: str = ""
    # True when the bank books this movement as the reversal of an earlier one; ``direction`` is
    # then the effective direction of this booking on the account.
    is_reversal: bool = False
    items: tuple[BatchItem, ...] = ()
    raw: str = ""
    # Reference of the business transaction the movement settles, when the statement carries one
    # (WeChat 微信支付业务单号, Alipay 业务流水号, MT940 account-owner reference, camt EndToEndId).
    business_ref: str = ""


Row = StatementLineRow | FundMovementRow


@dataclass(slots=True)
class StatementMetadata:
    """File-level facts. Header facts are set when ``parse`` returns; facts that only appear later
    in the file (e.g. the closing balance of an MT940 file) are final once the rows are exhausted."""

    account_ref: str = ""
    period_start: date | None = None
    period_end: date | None = None  # inclusive
    statement_date: date | None = None
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    raw_columns: tuple[str, ...] = ()
    variant: str = ""  # layout detected, e.g. "ALL", "REFUND_LEGACY", "camt.053.001.02"


@dataclass(frozen=True, slots=True)
class ParseWarning:
    """Something a clerk should know about a file that was read nonetheless: ``problem`` says what (a code and
    its parameters, shown in the reader's language), ``line`` and ``field`` where."""

    line: int | None
    field: str | None
    problem: Message

    @property
    def message(self) -> str:
        """The English text, for logs and tests."""
        return self.problem.text

    def __str__(self) -> str:
        return _located(self.line, self.field, self.message)


@dataclass(slots=True)
class StatementTotals:
    """What the parser counted. ``amount_by_type`` is keyed by LineType for business statements
    and by Direction for fund statements; amounts are positive magnitudes."""

    count: int = 0
    amount_by_type: dict[str, Decimal] = field(default_factory=dict)
    count_by_type: dict[str, int] = field(default_factory=dict)
    fee: Decimal = ZERO
    complete: bool = False
    # The fee total the file's footer declares (None: the format or file declares none).
    declared_fee: Decimal | None = None

    def add(self, key: str, amount: Decimal, fee: Decimal = ZERO) -> None:
        self.count += 1
        self.amount_by_type[key] = self.amount_by_type.get(key, ZERO) + amount
        self.count_by_type[key] = self.count_by_type.get(key, 0) + 1
        self.fee += fee


class ParsedStatement:
    """The result of a parse: metadata now, rows as a stream, totals and warnings at the end."""

    __slots__ = ("format", "kind", "currency", "metadata", "rows", "warnings", "_totals")

    def __init__(
        self,
        *,
        format: str,
        kind: StatementKind,
        currency: str,
        metadata: StatementMetadata,
        rows: Iterator[Row],
        totals: StatementTotals,
        warnings: list[ParseWarning],
    ) -> None:
        self.format = format
        self.kind = kind
        self.currency = currency
        self.metadata = metadata
        self.rows = rows
        self.warnings = warnings
        self._totals = totals

    @property
    def totals(self) -> StatementTotals:
        if not self._totals.complete:
            raise RuntimeError("totals are known only once the rows iterator is exhausted")
        return self._totals


def _located(line: int | None, field_name: str | None, reason: str) -> str:
    where = []
    if line is not None:
        where.append(f"line {line}")
    if field_name:
        where.append(f"field {field_name}")
    return f"{', '.join(where)}: {reason}" if where else reason


class StatementParseError(Exception):
    """A file that cannot be imported, with the line and field a clerk needs to find the problem.

    ``problem`` says why (a code and its parameters, shown in the reader's language); ``reason`` is its
    English text, for logs and tests."""

    def __init__(self, problem: Message, *, line: int | None = None, field: str | None = None) -> None:
        super().__init__(problem.text)
        self.problem = problem
        self.reason = problem.text
        self.line = line
        self.field = field

    def __str__(self) -> str:
        return _located(self.line, self.field, self.reason)


class ArchiveRefused(StatementParseError):
    """A readable ZIP archive refused by its limits: a possible zip bomb, unsafe member names, nesting."""


class FieldError(ValueError):
    """A single value that cannot be read; the row loop adds the line number."""

    def __init__(self, field: str, problem: Message) -> None:
        super().__init__(problem.text)
        self.field = field
        self.problem = problem
        self.reason = problem.text

    def at(self, line: int | None) -> StatementParseError:
        return StatementParseError(self.problem, line=line, field=self.field)


class ControlCheck:
    """Reports footer / control-total mismatches: raise when strict, else record a warning."""

    __slots__ = ("strict", "warnings")

    def __init__(self, *, strict: bool, warnings: list[ParseWarning]) -> None:
        self.strict = strict
        self.warnings = warnings

    def fail(self, problem: Message, *, line: int | None, field: str | None) -> None:
        if self.strict:
            raise StatementParseError(problem, line=line, field=field)
        self.warnings.append(ParseWarning(line, field, problem))

    def compare(self, declared: object, parsed: object, *, code: Code, line: int | None, field: str, **params: str | int) -> None:
        """A declared total against the rows' total; ``code``'s text takes ``declared`` and ``parsed``."""
        if declared != parsed:
            self.fail(Message(code, declared=str(declared), parsed=str(parsed), **params), line=line, field=field)


# --- values ---------------------------------------------------------------------------------

AMOUNT_CHARS = "0123456789.-+"  # the only characters of a plain decimal amount


# No amount has more digits than this (the database keeps 15 before the point and 4 after it).
MAX_AMOUNT_CHARS = 32


def _shown(text: str) -> str | Message:
    """A value quoted in a message, cut short: a line of megabytes is not repeated back."""
    return repr(text) if len(text) <= 40 else Message(Code.CUT_SHORT, value=repr(text[:40]), length=len(text))


def parse_amount(text: str, field_name: str) -> Decimal:
    """``Decimal(text)`` restricted to plain decimal notation (no NaN, exponent or underscores) and to
    the length of an amount."""
    if len(text) > MAX_AMOUNT_CHARS:
        raise FieldError(field_name, Message(Code.TOO_LONG_FOR_AMOUNT, value=_shown(text)))
    # str.strip with a character set removes only allowed characters from both ends: anything left
    # means a foreign character somewhere. This is a C-speed check, cheaper than a regex.
    if text.strip(AMOUNT_CHARS):
        raise FieldError(field_name, Message(Code.NOT_AN_AMOUNT, value=_shown(text)))
    try:
        return Decimal(text)
    except InvalidOperation:
        raise FieldError(field_name, Message(Code.NOT_AN_AMOUNT, value=_shown(text))) from None


def parse_percent(text: str, field_name: str) -> Decimal:
    """``"0.60%"`` -> ``Decimal("0.0060")`` (a fraction, digits kept exactly)."""
    if not text.endswith("%"):
        raise FieldError(field_name, Message(Code.NOT_A_PERCENTAGE, value=repr(text)))
    return parse_amount(text[:-1], field_name).scaleb(-2)


def fen_to_yuan(digits: str, field_name: str) -> Decimal:
    """An unsigned integer amount in fen (1/100 yuan), e.g. ``"000000000600"`` -> 6.00."""
    if not (digits.isascii() and digits.isdigit()):
        raise FieldError(field_name, Message(Code.NOT_AN_AMOUNT_IN_FEN, value=repr(digits)))
    return Decimal(int(digits)).scaleb(-2)


class LocalDateTimeParser:
    """Reads ``YYYY-MM-DD HH:MM:SS`` wall-clock times of a zone into aware datetimes, fast.

    ``datetime.replace(tzinfo=...)`` costs ~1 µs, more than the rest of a row. Instead the zone's
    UTC offset is computed once per calendar day and appended to the text, so the C
    ``datetime.fromisoformat`` returns an aware value directly (with a fixed-offset tzinfo that
    denotes the same instant). Days with a DST change fall back to ``replace``.
    """

    __slots__ = ("tz", "_suffix_by_day")

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._suffix_by_day: dict[str, str | None] = {}

    def __call__(self, text: str, field_name: str) -> datetime:
        if len(text) != 19 or text[10] not in " T":
            raise FieldError(field_name, Message(Code.NOT_A_DATETIME, value=repr(text)))
        day = text[:10]
        suffix = self._suffix_by_day.get(day, "")
        if suffix == "":
            suffix = self._day_suffix(day, field_name)
        try:
            if suffix is None:
                return datetime.fromisoformat(text).replace(tzinfo=self.tz)
            return datetime.fromisoformat(text + suffix)
        except ValueError:
            raise FieldError(field_name, Message(Code.NOT_A_DATETIME, value=repr(text))) from None

    def _day_suffix(self, day: str, field_name: str) -> str | None:
        try:
            start = datetime.fromisoformat(day)
        except ValueError:
            raise FieldError(field_name, Message(Code.NOT_A_DATE, value=repr(day))) from None
        first = start.replace(tzinfo=self.tz).utcoffset()
        last = (start + timedelta(hours=23, minutes=59, seconds=59)).replace(tzinfo=self.tz).utcoffset()
        suffix = _offset_suffix(first) if first == last and first is not None else None
        if len(self._suffix_by_day) > 4096:  # bounded: a statement spans a few days at most
            self._suffix_by_day.clear()
        self._suffix_by_day[day] = suffix
        return suffix


def _offset_suffix(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    sign = "+" if seconds >= 0 else "-"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def as_aware(value: datetime, tz: tzinfo) -> datetime:
    """A naive datetime read from a file means wall-clock time in the statement's zone."""
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


# --- sources and lines ----------------------------------------------------------------------


def open_source(source: Source) -> BinaryIO:
    """A seekable binary stream over ``source`` (bytes or a binary file object)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(source)
    if isinstance(source, io.TextIOBase):
        raise TypeError("statement sources must be bytes or a binary file object, not text")
    if not source.seekable():
        # ZIP members and format sniffing need to seek; a pipe is buffered once.
        return io.BytesIO(source.read())
    return source


def peek(stream: BinaryIO, size: int) -> bytes:
    position = stream.tell()
    head = stream.read(size)
    stream.seek(position)
    return head


def is_zip(stream: BinaryIO) -> bool:
    return peek(stream, 4) == b"PK\x03\x04"


def decode_failure(
    exc: UnicodeDecodeError,
    line: int,
    encoding: str,
    raw: bytes,
    header: Sequence[str] = (),
    delimiter: bytes = b",",
) -> StatementParseError:
    """Name the line (and, when the columns are known, the field) holding undecodable bytes."""
    column = raw[: exc.start].count(delimiter)
    field_name = header[column] if column < len(header) else None
    bad = raw[exc.start : exc.start + 1].hex()
    # A UTF-8 bill that does not decode is most often a GBK one: say so.
    code = Code.UNDECODABLE_UTF8 if encoding.startswith("utf") else Code.UNDECODABLE
    return StatementParseError(Message(code, encoding=encoding, byte=bad, offset=exc.start), line=line, field=field_name)


class CsvRecords:
    """Decoded CSV records of a binary line stream: (first line number, raw text, fields).

    Lines are decoded one by one so an encoding error names its line. Lines without a quote
    character are split with ``str.split`` (several times faster than ``csv``); quoted lines, which
    may span several physical lines, go through ``csv.reader``. ``raw`` is the record's text exactly
    as in the file, without the final line terminator.

    ``value_prefix`` is a decoration at the start of every value (WeChat's backtick). Such lines are
    split on "<delimiter><prefix>" in one pass; a value lacking the prefix then shows as a wrong
    field count, and the consumer asks ``exact_fields`` for the careful split.
    """

    __slots__ = ("lines", "encoding", "delimiter", "value_prefix", "line_no", "header")

    def __init__(
        self,
        lines: Iterator[bytes],
        *,
        encoding: str,
        delimiter: str = ",",
        value_prefix: str = "",
    ) -> None:
        self.lines = lines  # the binary lines not read yet
        self.encoding = encoding
        self.delimiter = delimiter
        self.value_prefix = value_prefix
        self.line_no = 0  # number of the last physical line read
        self.header: Sequence[str] = ()  # names used to point at the field of a decoding error

    def decode(self, raw: bytes, line_no: int) -> str:
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise decode_failure(exc, line_no, self.encoding, raw, self.header, self.delimiter.encode(self.encoding)) from None
        return text[1:] if line_no == 1 and text.startswith("\ufeff") else text

    def __iter__(self) -> Iterator[tuple[int, str, list[str]]]:
        delimiter = self.delimiter
        prefix = self.value_prefix
        marker = delimiter + prefix
        cut = len(prefix)
        encoding = self.encoding
        line_no = self.line_no
        for data in self.lines:
            line_no += 1
            self.line_no = line_no
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                text = self.decode(data, line_no)  # raises with the line and field named
            if line_no == 1 and text.startswith("\ufeff"):
                text = text[1:]
            if '"' in text:
                first = line_no
                raw, fields = self.quoted(text, first)
                line_no = self.line_no
                yield first, raw, fields
                continue
            raw = text.rstrip("\r\n")
            if prefix and raw.startswith(prefix):
                yield line_no, raw, raw[cut:].split(marker)
            else:
                yield line_no, raw, raw.split(delimiter)

    def quoted(self, text: str, first: int) -> tuple[str, list[str]]:
        """The record starting with ``text`` (line ``first``) that holds quotes; it may continue on
        the following lines, which are read and counted in ``line_no``."""
        parts = [text]
        # An odd number of quotes means a quoted field continues on the next physical line.
        while sum(part.count('"') for part in parts) % 2:
            data = next(self.lines, None)
            if data is None:
                raise StatementParseError(Message(Code.QUOTE_NOT_CLOSED), line=first)
            self.line_no += 1
            parts.append(self.decode(data, self.line_no))
        raw = "".join(parts).rstrip("\r\n")
        return raw, self._csv_fields(parts, first)

    def _csv_fields(self, lines: list[str], line_no: int) -> list[str]:
        try:
            fields = next(csv.reader(lines, delimiter=self.delimiter, strict=True), [])
        except csv.Error as exc:
            raise StatementParseError(Message(Code.MALFORMED_CSV, detail=str(exc)), line=line_no) from None
        cut = len(self.value_prefix)
        if cut:
            fields = [value[cut:] if value.startswith(self.value_prefix) else value for value in fields]
        return fields

    def exact_fields(self, raw: str, line_no: int) -> list[str]:
        """The careful split of one record (quotes honoured, prefix removed value by value)."""
        return self._csv_fields([raw], line_no)


def header_index(names: Sequence[str]) -> dict[str, int]:
    """Column index by normalised header name (first occurrence wins)."""
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        index.setdefault(normalize_header(name), position)
    return index


def normalize_header(name: str) -> str:
    """Header names compared loosely: outer spaces/tabs/backticks and full-width brackets ignored."""
    return name.strip().strip("`\t ").replace("（", "(").replace("）", ")")


def require_columns(index: dict[str, int], names: Iterable[str], line: int) -> None:
    for name in names:
        if normalize_header(name) not in index:
            raise StatementParseError(Message(Code.COLUMN_MISSING), line=line, field=name)


def csv_raw_fields(raw: str, raw_columns: Sequence[str], *, delimiter: str = ",", strip: str = "") -> list[tuple[str, str]]:
    """Split a CSV record's raw text back into (column name, value) pairs for display.

    ``strip`` removes format decoration (WeChat's backtick prefix, Alipay's trailing tab). Values
    beyond the known columns are shown under their 1-based position.
    """
    values = next(csv.reader([raw], delimiter=delimiter), [])
    pairs = []
    for position, value in enumerate(values):
        name = raw_columns[position] if position < len(raw_columns) else f"#{position + 1}"
        pairs.append((name, value.strip(strip) if strip else value))
    return pairs


# --- archives -------------------------------------------------------------------------------

ZIP_MAGIC = b"PK\x03\x04"
_READ_CHUNK = 1 << 16  # bytes asked of a member per read: what one decompression step may produce


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """How far a compressed statement may expand. A zip bomb (a small archive that expands to gigabytes)
    is refused while it expands, before it costs a worker its memory.

    ``max_expanded_bytes`` bounds all the members read from one archive together; ``max_ratio`` bounds a
    member's expanded size over its compressed size, once it has expanded past ``ratio_floor_bytes`` (a few
    kilobytes of padding compress a hundredfold and harm nobody). Real statements compress 4 to 30 times: a
    UnionPay ZM file, mostly spaces, about 27; an Alipay bill about 9; an XLSX sheet about 13. The service
    fills these from the settings STATEMENT_MAX_EXPANDED_BYTES and STATEMENT_MAX_ZIP_RATIO; the defaults
    here are the settings' defaults.
    """

    max_expanded_bytes: int = 2 << 30
    max_ratio: int = 200
    max_members: int = 100
    ratio_floor_bytes: int = 1 << 20


DEFAULT_ARCHIVE_LIMITS = ArchiveLimits()


def _mib(size: int) -> str | Message:
    return f"{size / (1 << 20):.0f} MiB" if size >= 1 << 20 else Message(Code.SIZE_BYTES, size=size)


def unsafe_member_name(name: str) -> bool:
    """True for a member name that points outside the archive's folder: absolute, a drive, or ``..``."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts


class Archive:
    """A ZIP archive opened under ``ArchiveLimits``; the one way the parsers expand compressed content.

    Opening checks the member list (how many members, their names); opening a member checks its declared
    sizes (a quick refusal), then its reader counts the bytes actually expanded as they are read, since a
    header can lie. Chinese channels write member names in GBK without the UTF-8 flag, hence the default
    ``metadata_encoding``.
    """

    def __init__(self, stream: BinaryIO, limits: ArchiveLimits, *, metadata_encoding: str | None = "gb18030") -> None:
        self.limits = limits
        self.expanded = 0  # bytes expanded so far from all members together
        position = stream.tell()
        self.size = stream.seek(0, io.SEEK_END)
        stream.seek(position)
        try:
            self.zip = zipfile.ZipFile(stream, metadata_encoding=metadata_encoding)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
            # NotImplementedError: a member needs a later version of the ZIP format than Python reads.
            raise StatementParseError(Message(Code.ZIP_UNREADABLE, detail=str(exc))) from None
        if len(infos) > limits.max_members:
            raise ArchiveRefused(Message(Code.ZIP_TOO_MANY_MEMBERS, count=len(infos), limit=limits.max_members))
        for info in infos:
            if unsafe_member_name(info.filename):
                raise ArchiveRefused(Message(Code.ZIP_UNSAFE_NAME, member=repr(info.filename)))
        self.infos = infos

    @property
    def names(self) -> list[str]:
        return [info.filename for info in self.infos]

    def _compressed(self, info: zipfile.ZipInfo) -> int:
        # The decompressor never consumes more than the archive holds, whatever the header claims.
        return max(1, min(info.compress_size, self.size))

    def check(self, name: str, expanded: int, compressed: int, *, total: int, declared: bool = False) -> None:
        """Refuse a member that has expanded (or declares it will expand) past the limits."""
        limits = self.limits
        ratio = f"{expanded / compressed:.0f}"
        if total > limits.max_expanded_bytes:
            code = Code.ZIP_DECLARES_PAST_TOTAL if declared else Code.ZIP_EXPANDS_PAST_TOTAL
            raise ArchiveRefused(Message(code, member=repr(name), limit=_mib(limits.max_expanded_bytes), ratio=ratio))
        if expanded > limits.ratio_floor_bytes and expanded / compressed > limits.max_ratio:
            code = Code.ZIP_DECLARES_PAST_RATIO if declared else Code.ZIP_EXPANDS_PAST_RATIO
            raise ArchiveRefused(Message(code, member=repr(name), ratio=ratio, compressed=compressed, limit=limits.max_ratio))

    def check_declared(self) -> None:
        """Check every member's declared sizes, for a reader that expands members itself (openpyxl).

        That is enough to bound it: Python's zipfile never returns more than a member's declared size."""
        total = 0
        for info in self.infos:
            total += info.file_size
            self.check(info.filename, info.file_size, self._compressed(info), total=total, declared=True)

    def open(self, name: str) -> io.BufferedReader:
        """A buffered reader over one member, refused as soon as it expands past the limits. A member that
        is itself a ZIP archive is refused: nested archives are not expanded."""
        info = self.zip.getinfo(name)
        compressed = self._compressed(info)
        self.check(name, info.file_size, compressed, total=self.expanded + info.file_size, declared=True)
        try:
            member = self.zip.open(info)
        except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError, ValueError) as exc:
            # RuntimeError: encrypted; NotImplementedError: an unknown compression method.
            raise StatementParseError(Message(Code.ZIP_MEMBER_UNREADABLE, member=repr(name), detail=str(exc))) from None
        reader = io.BufferedReader(_GuardedMember(self, member, name, compressed), buffer_size=_READ_CHUNK)
        if reader.peek(len(ZIP_MAGIC))[: len(ZIP_MAGIC)] == ZIP_MAGIC:
            reader.close()
            raise ArchiveRefused(Message(Code.ZIP_NESTED, member=repr(name)))
        return reader


class _GuardedMember(io.RawIOBase):
    """A member's bytes as they are expanded, counted against the archive's limits at every read."""

    def __init__(self, archive: Archive, member: BinaryIO, name: str, compressed: int) -> None:
        super().__init__()
        self.archive, self.member, self.name, self.compressed = archive, member, name, compressed
        self.expanded = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            # Bounded: zipfile decompresses at most the bytes asked for in one step.
            data = self.member.read(min(len(buffer), _READ_CHUNK))
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
            raise StatementParseError(Message(Code.ZIP_MEMBER_DAMAGED, member=repr(self.name), detail=str(exc))) from None
        size = len(data)
        self.expanded += size
        self.archive.expanded += size
        self.archive.check(self.name, self.expanded, self.compressed, total=self.archive.expanded)
        buffer[:size] = data
        return size

    def close(self) -> None:
        if not self.closed:
            self.member.close()
        super().close()


def zip_member(
    stream: BinaryIO,
    choose: Callable[[list[str]], str | None],
    suffix: str,
    limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
) -> BinaryIO:
    """Open, under ``limits``, the member of a ZIP archive that ``choose`` picks from the member names (a
    name ending with ``suffix``, which the refusal of an archive without one names)."""
    archive = Archive(stream, limits)
    names = archive.names
    name = choose(names)
    if name is None:
        raise StatementParseError(Message(Code.ZIP_NO_MEMBER_ENDING, suffix=suffix, members=names_or_none(names)))
    return archive.open(name)
