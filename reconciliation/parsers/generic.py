"""A configurable CSV / XLSX statement: bank fund statements and channels without their own parser.

An admin describes the file in a ``GenericFormatConfig`` (kept as JSON in the database):
encoding, delimiter, where the header is, which header NAMES feed which field (never positions; a
list of alternative names per field), how debits and credits are told apart, date and amount
formats, value maps and optional control totals. Unknown extra columns are ignored.

Example (a typical Chinese e-banking export)::

    {"kind": "fund", "file_type": "csv", "encoding": "gb18030", "header_row": 3,
     "footer_prefixes": ["合计"],
     "columns": {"booking_date": ["交易日期", "记账日期"], "booking_time": "交易时间",
                 "debit": "借方发生额", "credit": "贷方发生额", "balance_after": "余额",
                 "counterparty_name": "对方户名", "counterparty_account": "对方账号",
                 "memo": ["摘要", "用途"], "bank_ref": "流水号"},
     "debit_credit": "separate_columns", "date_formats": ["%Y%m%d", "%Y-%m-%d"],
     "control_totals": {"pattern": "合计.*?(?P<count>\\\\d+)笔.*?(?P<amount>[\\\\d,.]+)", "scope": "debit"}}

Rows: the header is on ``header_row`` (1-based; rows above are titles), ``skip_rows_after_header``
rows follow it, then data. A row whose first cell starts with one of ``footer_prefixes`` is a footer
(skipped, and offered to the control-total pattern); with ``stop_at_empty_row`` the first empty
row ends the data and everything after it is footer. Otherwise empty rows are skipped.
"""

from __future__ import annotations

import abc
import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any

from .base import (
    DEFAULT_ARCHIVE_LIMITS,
    DEFAULT_TZ,
    ZERO,
    Archive,
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
    as_aware,
    csv_raw_fields,
    header_index,
    is_zip,
    normalize_header,
    open_source,
    parse_amount,
)
from .messages import Code, Message

BUSINESS_FIELDS = (
    "channel_txn_no",
    "txn_no",
    "line_type",
    "status",
    "amount",
    "fee",
    "currency",
    "occurred_at",
    "occurred_date",
    "occurred_time",
    "completed_at",
    "refund_no",
    "original_channel_txn_no",
    "original_txn_no",
    "batch_ref",
    "business_date",
)
FUND_FIELDS = (
    "account_ref",
    "booking_date",
    "booking_time",
    "booked_at",
    "value_date",
    "amount",
    "debit",
    "credit",
    "indicator",
    "balance_after",
    "currency",
    "counterparty_name",
    "counterparty_account",
    "memo",
    "bank_ref",
    "batch_ref",
    "business_ref",
)
DEBIT_CREDIT_MODES = ("separate_columns", "signed", "indicator")
_MODE_COLUMNS = {"separate_columns": ("debit", "credit"), "signed": ("amount",), "indicator": ("amount", "indicator")}
_CACHE_LIMIT = 65536


class FormatConfigError(ValueError):
    """A format configuration that cannot be used; ``key`` names the offending setting, ``problem`` what is
    wrong with it (``reason``: its English text)."""

    def __init__(self, key: str, problem: Message) -> None:
        super().__init__(f"format config key {key!r}: {problem.text}")
        self.key = key
        self.problem = problem
        self.reason = problem.text


@dataclass(frozen=True, slots=True)
class AmountFormat:
    decimal_separator: str = "."
    thousands_separator: str = ","  # "" when the file never groups digits
    unit: str = "yuan"  # "yuan" (major unit, with decimals) or "fen" (integer hundredths)


@dataclass(frozen=True, slots=True)
class ControlTotals:
    """A footer row giving declared totals: ``pattern`` is a regex with named groups ``count``
    and/or ``amount``, searched in each footer row (its cells joined by the delimiter). ``scope``
    says which rows it totals: all, or only debits / credits (fund statements)."""

    pattern: str
    scope: str = "all"


@dataclass(frozen=True, slots=True)
class GenericFormatConfig:
    kind: StatementKind
    columns: Mapping[str, tuple[str, ...]]
    file_type: str = "csv"
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    sheet: str = ""  # XLSX sheet name; "" = the first sheet
    header_row: int = 1
    skip_rows_after_header: int = 0
    footer_prefixes: tuple[str, ...] = ()
    stop_at_empty_row: bool = False
    debit_credit: str = "separate_columns"
    indicator_map: Mapping[str, Direction] = field(default_factory=dict)
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    datetime_formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S",)
    time_formats: tuple[str, ...] = ("%H:%M:%S",)
    amount_format: AmountFormat = AmountFormat()
    currency: str = "CNY"
    status_map: Mapping[str, LineStatus] = field(default_factory=dict)
    type_map: Mapping[str, LineType] = field(default_factory=dict)
    default_line_type: LineType = LineType.COLLECTION
    control_totals: ControlTotals | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenericFormatConfig:
        """Validate an admin-edited configuration; ``FormatConfigError`` names the bad key."""
        return _ConfigReader(data).read()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form ``from_dict`` reads back."""
        return {
            "kind": self.kind.value.lower(),
            "file_type": self.file_type,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "sheet": self.sheet,
            "header_row": self.header_row,
            "skip_rows_after_header": self.skip_rows_after_header,
            "footer_prefixes": list(self.footer_prefixes),
            "stop_at_empty_row": self.stop_at_empty_row,
            "columns": {name: list(alternatives) for name, alternatives in self.columns.items()},
            "debit_credit": self.debit_credit,
            "indicator_map": {text: value.value for text, value in self.indicator_map.items()},
            "date_formats": list(self.date_formats),
            "datetime_formats": list(self.datetime_formats),
            "time_formats": list(self.time_formats),
            "amount_format": {
                "decimal_separator": self.amount_format.decimal_separator,
                "thousands_separator": self.amount_format.thousands_separator,
                "unit": self.amount_format.unit,
            },
            "currency": self.currency,
            "status_map": {text: value.value for text, value in self.status_map.items()},
            "type_map": {text: value.value for text, value in self.type_map.items()},
            "default_line_type": self.default_line_type.value,
            "control_totals": None
            if self.control_totals is None
            else {"pattern": self.control_totals.pattern, "scope": self.control_totals.scope},
        }


class _ConfigReader:
    """Reads and validates one config dict, key by key."""

    _KEYS = frozenset(
        {
            "kind",
            "columns",
            "file_type",
            "encoding",
            "delimiter",
            "sheet",
            "header_row",
            "skip_rows_after_header",
            "footer_prefixes",
            "stop_at_empty_row",
            "debit_credit",
            "indicator_map",
            "date_formats",
            "datetime_formats",
            "time_formats",
            "amount_format",
            "currency",
            "status_map",
            "type_map",
            "default_line_type",
            "control_totals",
        }
    )

    def __init__(self, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise FormatConfigError("(root)", Message(Code.CONFIG_NOT_AN_OBJECT))
        self.data = data

    def read(self) -> GenericFormatConfig:
        for key in self.data:
            if key not in self._KEYS:
                raise FormatConfigError(key, Message(Code.CONFIG_UNKNOWN_SETTING_KNOWN, known=", ".join(sorted(self._KEYS))))
        kind = self._choice("kind", ("business", "fund"), None)
        statement_kind = StatementKind(kind.upper())
        debit_credit = self._choice("debit_credit", DEBIT_CREDIT_MODES, "separate_columns")
        columns = self._columns(statement_kind, debit_credit)
        indicator_map = self._value_map("indicator_map", Direction)
        if statement_kind is StatementKind.FUND and debit_credit == "indicator" and not indicator_map:
            raise FormatConfigError("indicator_map", Message(Code.CONFIG_INDICATOR_MAP_REQUIRED))
        return GenericFormatConfig(
            kind=statement_kind,
            columns=columns,
            file_type=self._choice("file_type", ("csv", "xlsx"), "csv"),
            encoding=self._encoding(),
            delimiter=self._delimiter(),
            sheet=self._string("sheet", ""),
            header_row=self._integer("header_row", 1, minimum=1),
            skip_rows_after_header=self._integer("skip_rows_after_header", 0, minimum=0),
            footer_prefixes=self._strings("footer_prefixes", ()),
            stop_at_empty_row=self._boolean("stop_at_empty_row", False),
            debit_credit=debit_credit,
            indicator_map=indicator_map,
            date_formats=self._formats("date_formats", ("%Y-%m-%d",)),
            datetime_formats=self._formats("datetime_formats", ("%Y-%m-%d %H:%M:%S",)),
            time_formats=self._formats("time_formats", ("%H:%M:%S",)),
            amount_format=self._amount_format(),
            currency=self._currency(),
            status_map=self._value_map("status_map", LineStatus),
            type_map=self._value_map("type_map", LineType),
            default_line_type=LineType(self._choice("default_line_type", tuple(LineType), LineType.COLLECTION)),
            control_totals=self._control_totals(statement_kind),
        )

    def _get(self, key: str, default: Any) -> Any:
        value = self.data.get(key, default)
        if value is None and default is not None:
            return default
        return value

    def _string(self, key: str, default: str | None) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise FormatConfigError(key, Message(Code.CONFIG_NOT_TEXT if value is not None else Code.CONFIG_REQUIRED))
        return value

    def _choice(self, key: str, choices: Sequence[str], default: str | None) -> str:
        value = self._string(key, default)
        if value not in choices:
            raise FormatConfigError(key, Message(Code.CONFIG_NOT_ONE_OF, value=repr(value), choices=", ".join(map(str, choices))))
        return value

    def _integer(self, key: str, default: int, *, minimum: int) -> int:
        value = self._get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise FormatConfigError(key, Message(Code.CONFIG_NOT_WHOLE_NUMBER, minimum=minimum))
        return value

    def _boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise FormatConfigError(key, Message(Code.CONFIG_NOT_BOOLEAN))
        return value

    def _strings(self, key: str, default: tuple[str, ...], *, allow_empty: bool = True) -> tuple[str, ...]:
        value = self._get(key, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(item, str) and item for item in value):
            raise FormatConfigError(key, Message(Code.CONFIG_NOT_TEXTS))
        if not value and not allow_empty:
            raise FormatConfigError(key, Message(Code.CONFIG_EMPTY_LIST))
        return tuple(value)

    def _formats(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        formats = self._strings(key, default, allow_empty=False)
        for pattern in formats:
            if "%" not in pattern:
                raise FormatConfigError(key, Message(Code.CONFIG_NOT_STRPTIME, value=repr(pattern)))
        return formats

    def _encoding(self) -> str:
        name = self._string("encoding", "utf-8-sig")
        try:
            codecs.lookup(name)
        except LookupError:
            raise FormatConfigError("encoding", Message(Code.CONFIG_UNKNOWN_ENCODING, value=repr(name))) from None
        # Lines are split on the byte b"\n" before decoding, so the encoding must keep ASCII as is.
        if "\n,;".encode(name).lstrip(codecs.BOM_UTF8) != b"\n,;":
            raise FormatConfigError("encoding", Message(Code.CONFIG_NOT_ASCII_COMPATIBLE, value=repr(name)))
        return name

    def _delimiter(self) -> str:
        value = self._string("delimiter", ",")
        if len(value) != 1 or value in '"\r\n':
            raise FormatConfigError("delimiter", Message(Code.CONFIG_BAD_DELIMITER))
        return value

    def _columns(self, kind: StatementKind, debit_credit: str) -> dict[str, tuple[str, ...]]:
        raw = self._get("columns", None)
        if not isinstance(raw, Mapping) or not raw:
            raise FormatConfigError("columns", Message(Code.CONFIG_COLUMNS_NOT_A_MAP))
        allowed = BUSINESS_FIELDS if kind is StatementKind.BUSINESS else FUND_FIELDS
        columns: dict[str, tuple[str, ...]] = {}
        for name, alternatives in raw.items():
            key = f"columns.{name}"
            if name not in allowed:
                code = Code.CONFIG_NOT_A_BUSINESS_FIELD if kind is StatementKind.BUSINESS else Code.CONFIG_NOT_A_FUND_FIELD
                raise FormatConfigError(key, Message(code, fields=", ".join(allowed)))
            if isinstance(alternatives, str):
                alternatives = [alternatives]
            if (
                not isinstance(alternatives, list | tuple)
                or not alternatives
                or not all(isinstance(item, str) and item.strip() for item in alternatives)
            ):
                raise FormatConfigError(key, Message(Code.CONFIG_NOT_HEADER_NAMES))
            columns[name] = tuple(alternatives)
        if kind is StatementKind.BUSINESS:
            required = ["channel_txn_no", "amount"]
            if "occurred_time" in columns and "occurred_date" not in columns:
                raise FormatConfigError("columns.occurred_date", Message(Code.CONFIG_OCCURRED_DATE_REQUIRED))
        else:
            required = ["booking_date", *_MODE_COLUMNS[debit_credit]]
            if "booking_time" in columns and "booked_at" in columns:
                raise FormatConfigError("columns.booking_time", Message(Code.CONFIG_BOOKING_TIME_OR_BOOKED_AT))
            for name in {"debit", "credit", "indicator", "amount"} - set(_MODE_COLUMNS[debit_credit]):
                if name in columns:
                    raise FormatConfigError(f"columns.{name}", Message(Code.CONFIG_COLUMN_NOT_USED, mode=repr(debit_credit)))
        for name in required:
            if name not in columns:
                raise FormatConfigError(f"columns.{name}", Message(Code.CONFIG_REQUIRED))
        return columns

    def _value_map(self, key: str, enum: type) -> dict[str, Any]:
        raw = self._get(key, {})
        if not isinstance(raw, Mapping):
            raise FormatConfigError(key, Message(Code.CONFIG_NOT_A_VALUE_MAP))
        result = {}
        for text, code in raw.items():
            try:
                result[str(text)] = enum(code)
            except ValueError:
                raise FormatConfigError(
                    f"{key}.{text}",
                    Message(Code.CONFIG_NOT_ONE_OF, value=repr(code), choices=", ".join(member.value for member in enum)),
                ) from None
        return result

    def _amount_format(self) -> AmountFormat:
        raw = self._get("amount_format", {})
        if not isinstance(raw, Mapping):
            raise FormatConfigError("amount_format", Message(Code.CONFIG_NOT_AN_OBJECT))
        for key in raw:
            if key not in ("decimal_separator", "thousands_separator", "unit"):
                raise FormatConfigError(f"amount_format.{key}", Message(Code.CONFIG_UNKNOWN_SETTING))
        decimal_separator = raw.get("decimal_separator", ".")
        thousands = raw.get("thousands_separator", ",")
        unit = raw.get("unit", "yuan")
        if decimal_separator not in (".", ","):
            raise FormatConfigError("amount_format.decimal_separator", Message(Code.CONFIG_BAD_DECIMAL_SEPARATOR))
        if thousands not in ("", ",", ".", " ", "'") or thousands == decimal_separator:
            raise FormatConfigError("amount_format.thousands_separator", Message(Code.CONFIG_BAD_THOUSANDS_SEPARATOR))
        if unit not in ("yuan", "fen"):
            raise FormatConfigError("amount_format.unit", Message(Code.CONFIG_BAD_UNIT))
        return AmountFormat(decimal_separator, thousands, unit)

    def _currency(self) -> str:
        value = self._string("currency", "CNY")
        if not (len(value) == 3 and value.isascii() and value.isalpha() and value.isupper()):
            raise FormatConfigError("currency", Message(Code.CONFIG_BAD_CURRENCY, value=repr(value)))
        return value

    def _control_totals(self, kind: StatementKind) -> ControlTotals | None:
        raw = self._get("control_totals", None)
        if raw is None:
            return None
        if not isinstance(raw, Mapping) or not isinstance(raw.get("pattern"), str):
            raise FormatConfigError("control_totals.pattern", Message(Code.CONFIG_PATTERN_REQUIRED))
        try:
            compiled = re.compile(raw["pattern"])
        except re.error as exc:
            raise FormatConfigError("control_totals.pattern", Message(Code.CONFIG_BAD_REGEX, detail=str(exc))) from None
        if not {"count", "amount", "fee"} & set(compiled.groupindex):
            raise FormatConfigError("control_totals.pattern", Message(Code.CONFIG_PATTERN_GROUPS))
        scopes = ("all",) if kind is StatementKind.BUSINESS else ("all", "debit", "credit")
        scope = raw.get("scope", "all")
        if scope not in scopes:
            raise FormatConfigError("control_totals.scope", Message(Code.CONFIG_BAD_SCOPE, choices=", ".join(scopes)))
        for key in raw:
            if key not in ("pattern", "scope"):
                raise FormatConfigError(f"control_totals.{key}", Message(Code.CONFIG_UNKNOWN_SETTING))
        return ControlTotals(raw["pattern"], scope)


# --- value readers ------------------------------------------------------------------------------

_FAST_DATES: dict[str, Callable[[str], date]] = {
    "%Y-%m-%d": lambda text: date.fromisoformat(text) if len(text) == 10 else _no(),
    "%Y%m%d": lambda text: date(int(text[:4]), int(text[4:6]), int(text[6:])) if len(text) == 8 and text.isdigit() else _no(),
}


def _no() -> date:
    raise ValueError("not in this format")


def _not_in_formats(text: str, formats: Sequence[str], one: Code, several: Code) -> Message:
    """The refusal of a value that none of the configured formats reads."""
    if len(formats) == 1:
        return Message(one, value=repr(text), format=formats[0])
    return Message(several, value=repr(text), formats=", ".join(formats))


class _Dates:
    """Parses dates with the configured patterns (first match wins); results are cached because
    a statement holds few distinct dates. ``iso_fallback`` also accepts the ISO text an XLSX date
    cell is turned into (YYYY-MM-DD, or YYYY-MM-DD HH:MM:SS when the cell has a time)."""

    def __init__(self, formats: Sequence[str], *, iso_fallback: bool = False) -> None:
        self.formats = tuple(formats) + (("%Y-%m-%d", "%Y-%m-%d %H:%M:%S") if iso_fallback else ())
        self.cache: dict[str, date] = {}

    def __call__(self, text: str, name: str) -> date:
        found = self.cache.get(text)
        if found is not None:
            return found
        for pattern in self.formats:
            try:
                fast = _FAST_DATES.get(pattern)
                found = fast(text) if fast else datetime.strptime(text, pattern).date()
                break
            except ValueError:
                continue
        else:
            raise FieldError(name, _not_in_formats(text, self.formats, Code.GENERIC_NOT_A_DATE, Code.GENERIC_NOT_A_DATE_ANY))
        if len(self.cache) >= _CACHE_LIMIT:
            self.cache.clear()
        self.cache[text] = found
        return found


class _DateTimes:
    def __init__(self, formats: Sequence[str], tz: tzinfo, *, iso_fallback: bool = False) -> None:
        self.formats = tuple(formats) + (("%Y-%m-%d %H:%M:%S",) if iso_fallback else ())
        self.tz = tz
        self.fast = LocalDateTimeParser(tz)
        self.cache: dict[str, datetime] = {}

    def __call__(self, text: str, name: str) -> datetime:
        found = self.cache.get(text)
        if found is None:
            found = self._parse(text, name)
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[text] = found
        return found

    def _parse(self, text: str, name: str) -> datetime:
        for pattern in self.formats:
            try:
                if pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S") and len(text) == 19:
                    return self.fast(text, name)
                return as_aware(datetime.strptime(text, pattern), self.tz)
            except (ValueError, FieldError):
                continue
        raise FieldError(name, _not_in_formats(text, self.formats, Code.GENERIC_NOT_A_DATETIME, Code.GENERIC_NOT_A_DATETIME_ANY))


class _Times:
    def __init__(self, formats: Sequence[str]) -> None:
        self.formats = tuple(formats)

    def __call__(self, text: str, name: str) -> time:
        for pattern in self.formats:
            try:
                return datetime.strptime(text, pattern).time()
            except ValueError:
                continue
        raise FieldError(name, _not_in_formats(text, self.formats, Code.GENERIC_NOT_A_TIME, Code.GENERIC_NOT_A_TIME_ANY))


def amount_reader(fmt: AmountFormat) -> Callable[[str, str], Decimal]:
    """A parser for the configured amount notation (digit grouping optional)."""
    thousands = fmt.thousands_separator
    comma_decimal = fmt.decimal_separator == ","
    fen = fmt.unit == "fen"

    def read(text: str, name: str) -> Decimal:
        if thousands and thousands in text:
            text = text.replace(thousands, "")
        if comma_decimal:
            text = text.replace(",", ".")
        if fen:
            if "." in text:
                raise FieldError(name, Message(Code.GENERIC_NOT_WHOLE_FEN, value=repr(text)))
            return parse_amount(text, name).scaleb(-2)
        return parse_amount(text, name)

    return read


def write_amount(amount: Decimal, fmt: AmountFormat) -> str:
    """The configured notation of an amount (no digit grouping; the reader accepts both)."""
    if fmt.unit == "fen":
        return str(int(amount.scaleb(2)))
    text = f"{amount:f}"
    return text.replace(".", ",") if fmt.decimal_separator == "," else text


def write_date(value: date, formats: Sequence[str]) -> str:
    return value.strftime(formats[0])


def _xlsx_text(value: object, fmt: AmountFormat) -> str:
    """An XLSX cell as the text the CSV path would see. Numbers keep their shortest exact decimal
    text (``repr``, never float arithmetic) in the configured notation, and whole numbers show
    without ".0" (identifiers stored as numbers must not turn into 1.2e+18); date cells become ISO
    text, which the date readers accept in addition to the configured formats."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | Decimal):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return str(number) if fmt.unit == "fen" else write_amount(number, fmt)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ", "seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def raw_fields(raw: str, raw_columns: Sequence[str], delimiter: str = ",") -> list[tuple[str, str]]:
    """(column, value) pairs of a row's raw text. CSV rows keep the file's ``delimiter``; XLSX rows
    are rendered with commas."""
    return csv_raw_fields(raw, raw_columns, delimiter=delimiter)


# --- parsing ----------------------------------------------------------------------------------------


def parse(
    source: Source,
    *,
    config: GenericFormatConfig,
    tz: tzinfo = DEFAULT_TZ,
    strict_totals: bool = True,
    account_ref: str = "",
    archive_limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
) -> ParsedStatement:
    """Parse a CSV or XLSX file described by ``config``. ``account_ref`` names the account when the
    file has no account column; ``archive_limits`` bounds what an XLSX (a ZIP archive) may expand to."""
    stream = open_source(source)
    rows = _xlsx_rows(stream, config, archive_limits) if config.file_type == "xlsx" else _csv_rows(stream, config)
    header_line, header = _find_header(rows, config)
    columns = _resolve_columns(config, header, header_line)
    metadata = StatementMetadata(account_ref=account_ref, raw_columns=tuple(header), variant=config.file_type.upper())
    warnings: list[ParseWarning] = []
    totals = StatementTotals()
    check = ControlCheck(strict=strict_totals, warnings=warnings)
    builder = (_BusinessBuilder if config.kind is StatementKind.BUSINESS else _FundBuilder)(config, columns, tz, account_ref)
    return ParsedStatement(
        format="GENERIC",
        kind=config.kind,
        currency=config.currency,
        metadata=metadata,
        rows=_drive(rows, builder, config, len(header), metadata, totals, check),
        totals=totals,
        warnings=warnings,
    )


def _csv_rows(stream: io.BufferedIOBase, config: GenericFormatConfig) -> Iterator[tuple[int, str, Sequence[str]]]:
    records = CsvRecords(iter(stream), encoding=config.encoding, delimiter=config.delimiter)
    for line_no, raw, fields in records:
        yield line_no, raw, fields
        if line_no == config.header_row:
            records.header = fields


def _xlsx_rows(
    stream: io.BufferedIOBase, config: GenericFormatConfig, archive_limits: ArchiveLimits
) -> Iterator[tuple[int, str, Sequence[str]]]:
    from openpyxl import load_workbook  # only XLSX formats pay for importing openpyxl

    if is_zip(stream):  # else openpyxl says it is no workbook
        # openpyxl expands the members itself: their declared sizes are checked first, which bounds it.
        Archive(stream, archive_limits, metadata_encoding=None).check_declared()
        stream.seek(0)
    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a file that is not XLSX
        raise StatementParseError(Message(Code.GENERIC_XLSX_UNREADABLE, detail=str(exc))) from None
    try:
        if config.sheet and config.sheet not in book.sheetnames:
            raise StatementParseError(Message(Code.GENERIC_NO_SHEET, sheet=repr(config.sheet), sheets=", ".join(book.sheetnames)))
        sheet = book[config.sheet] if config.sheet else book.worksheets[0]
        fmt = config.amount_format
        for row_no, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            values = [_xlsx_text(value, fmt) for value in cells]
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="").writerow(values)
            yield row_no, buffer.getvalue(), values
    finally:
        book.close()


def _find_header(rows: Iterator[tuple[int, str, Sequence[str]]], config: GenericFormatConfig) -> tuple[int, list[str]]:
    for line_no, _raw, values in rows:
        if line_no == config.header_row:
            header = [value.strip() for value in values]
            while header and not header[-1]:
                header.pop()
            if not header:
                raise StatementParseError(Message(Code.GENERIC_HEADER_EMPTY), line=line_no)
            return line_no, header
    raise StatementParseError(Message(Code.GENERIC_ENDS_BEFORE_HEADER, row=config.header_row))


def _resolve_columns(config: GenericFormatConfig, header: list[str], line: int) -> dict[str, tuple[int, str]]:
    """Field -> (column index, header name) for the configured fields present in the header."""
    index = header_index(header)
    resolved: dict[str, tuple[int, str]] = {}
    for target, alternatives in config.columns.items():
        for name in alternatives:
            position = index.get(normalize_header(name))
            if position is not None:
                resolved[target] = (position, header[position])
                break
        else:
            if target in _required_fields(config):
                raise StatementParseError(
                    Message(Code.GENERIC_COLUMN_MISSING, names=" / ".join(alternatives)), line=line, field=alternatives[0]
                )
    return resolved


def _required_fields(config: GenericFormatConfig) -> tuple[str, ...]:
    if config.kind is StatementKind.BUSINESS:
        return ("channel_txn_no", "amount")
    return ("booking_date", *_MODE_COLUMNS[config.debit_credit])


def _is_empty(values: Sequence[str]) -> bool:
    return not "".join(values).strip()


def _drive(
    rows: Iterator[tuple[int, str, Sequence[str]]],
    builder: _Builder,
    config: GenericFormatConfig,
    width: int,
    metadata: StatementMetadata,
    totals: StatementTotals,
    check: ControlCheck,
) -> Iterator[StatementLineRow | FundMovementRow]:
    prefixes = config.footer_prefixes
    skip = config.skip_rows_after_header
    footers: list[tuple[int, str]] = []
    in_footer = False
    for line_no, raw, values in rows:
        if skip:
            skip -= 1
            continue
        if in_footer:
            if not _is_empty(values):
                footers.append((line_no, raw))
            continue
        if _is_empty(values):
            in_footer = config.stop_at_empty_row
            continue
        if prefixes and values[0].strip().startswith(prefixes):
            footers.append((line_no, raw))
            continue
        if len(values) != width and (len(values) < width or not _is_empty(values[width:])):
            raise StatementParseError(Message(Code.ROW_WIDTH, found=len(values), expected=width), line=line_no)
        values = [value.strip() for value in values]
        values.append("")  # what an absent column (position -1) reads
        try:
            row = builder.build(line_no, raw, values)
        except FieldError as exc:
            raise exc.at(line_no) from None
        totals.add(builder.key(row), row.amount, getattr(row, "fee", ZERO))
        yield row
    builder.finish(metadata)
    if config.control_totals is not None:
        _check_control(config, footers, totals, check, builder)
    totals.complete = True


def _check_control(
    config: GenericFormatConfig,
    footers: list[tuple[int, str]],
    totals: StatementTotals,
    check: ControlCheck,
    builder: _Builder,
) -> None:
    control = config.control_totals
    pattern = re.compile(control.pattern)
    for line_no, raw in footers:
        match = pattern.search(raw)
        if match is None:
            continue
        scope_key = {"debit": Direction.DEBIT, "credit": Direction.CREDIT}.get(control.scope)
        count = totals.count if scope_key is None else totals.count_by_type.get(scope_key, 0)
        amount = sum(totals.amount_by_type.values(), ZERO) if scope_key is None else totals.amount_by_type.get(scope_key, ZERO)
        groups = match.groupdict()
        if groups.get("count") is not None:
            check.compare(
                int(groups["count"]), count, code=Code.GENERIC_CONTROL_COUNT_MISMATCH, line=line_no, field="control_totals"
            )
        if groups.get("amount") is not None:
            try:
                declared = abs(builder.amount(groups["amount"], "control_totals"))
            except FieldError as exc:
                raise exc.at(line_no) from None
            check.compare(declared, amount, code=Code.GENERIC_CONTROL_AMOUNT_MISMATCH, line=line_no, field="control_totals")
        if groups.get("fee") is not None:
            try:
                totals.declared_fee = builder.amount(groups["fee"], "control_totals")
            except FieldError as exc:
                raise exc.at(line_no) from None
            check.compare(
                totals.declared_fee, totals.fee, code=Code.GENERIC_CONTROL_FEE_MISMATCH, line=line_no, field="control_totals"
            )
        return
    check.fail(Message(Code.GENERIC_NO_CONTROL_FOOTER), line=None, field="control_totals")


class _Builder(abc.ABC):
    """Turns a row's cells (texts) into a typed row. Column positions are resolved once into
    attributes (-1 = column absent) so the per-row code is plain indexing: this loop must run at
    several hundred thousand rows per second."""

    fields: tuple[str, ...] = ()
    text_fields: tuple[str, ...] = ()  # the positions unpacked at the top of ``build``

    def __init__(self, config: GenericFormatConfig, columns: dict[str, tuple[int, str]], tz: tzinfo, account_ref: str) -> None:
        self.config = config
        self.columns = columns
        self.tz = tz
        self.account_ref = account_ref
        self.amount = amount_reader(config.amount_format)
        iso_fallback = config.file_type == "xlsx"
        self.date = _Dates(config.date_formats, iso_fallback=iso_fallback)
        self.datetime = _DateTimes(config.datetime_formats, tz, iso_fallback=iso_fallback)
        self.time = _Times(config.time_formats)
        self.moments: dict[str, datetime] = {}
        self.days: dict[date, int] = {}
        # Row value lists get an extra "" appended (see _drive), so an absent column reads as
        # position -1 and every access is plain indexing.
        for target in self.fields:
            setattr(self, f"i_{target}", columns[target][0] if target in columns else -1)
            # The header name shown in errors (the target's name when the column is absent).
            setattr(self, f"n_{target}", columns[target][1] if target in columns else target)
        self.positions = tuple(getattr(self, f"i_{target}") for target in self.text_fields)

    def name(self, target: str) -> str:
        return self.columns[target][1]

    def mapped(self, text: str, target: str, mapping: Mapping[str, Any], default: Any) -> Any:
        if not text:
            return default
        found = mapping.get(text)
        if found is None:
            raise FieldError(self.name(target), Message(Code.GENERIC_NOT_IN_MAP, value=repr(text), map=target))
        return found

    def optional_amount(self, text: str, target: str) -> Decimal | None:
        return self.amount(text, self.name(target)) if text else None

    def moment(self, stamp: str, day: str, clock: str, targets: tuple[str, str, str]) -> datetime | None:
        """A timestamp from one date-time text, or a date plus an optional time (cached: a busy
        statement has many rows per second)."""
        if stamp:
            return self.datetime(stamp, self.name(targets[0]))
        if not day:
            return None
        key = f"{day}\x00{clock}"
        found = self.moments.get(key)
        if found is None:
            when = self.date(day, self.name(targets[1]))
            at = self.time(clock, self.name(targets[2])) if clock else time()
            found = as_aware(datetime.combine(when, at), self.tz)
            if len(self.moments) >= _CACHE_LIMIT:
                self.moments.clear()
            self.moments[key] = found
        return found

    def finish(self, metadata: StatementMetadata) -> None:
        if self.days:
            metadata.period_start = min(self.days)
            metadata.period_end = max(self.days)
            metadata.statement_date = max(self.days, key=self.days.__getitem__)

    @abc.abstractmethod
    def key(self, row: Any) -> str:
        """What the row is counted under in the file's totals (its line type or direction)."""

    @abc.abstractmethod
    def build(self, line_no: int, raw: str, values: Sequence[str]) -> Any:
        """The typed row of one line's cells."""


class _BusinessBuilder(_Builder):
    fields = BUSINESS_FIELDS

    def key(self, row: StatementLineRow) -> str:
        return row.line_type

    def build(self, line_no: int, raw: str, values: Sequence[str]) -> StatementLineRow:
        config = self.config
        amount_text = values[self.i_amount]
        if not amount_text:
            raise FieldError(self.n_amount, Message(Code.VALUE_EMPTY))
        channel_txn_no = values[self.i_channel_txn_no]
        if not channel_txn_no:
            raise FieldError(self.n_channel_txn_no, Message(Code.VALUE_EMPTY))
        occurred = self.moment(
            values[self.i_occurred_at],
            values[self.i_occurred_date],
            values[self.i_occurred_time],
            ("occurred_at", "occurred_date", "occurred_time"),
        )
        if occurred is not None:
            day = occurred.date()
            self.days[day] = self.days.get(day, 0) + 1
        completed_text = values[self.i_completed_at]
        business_text = values[self.i_business_date]
        type_text = values[self.i_line_type]
        fee = self.optional_amount(values[self.i_fee], "fee")
        return StatementLineRow(
            source_line=line_no,
            channel_txn_no=channel_txn_no,
            txn_no=values[self.i_txn_no],
            line_type=self.mapped(type_text, "line_type", config.type_map, config.default_line_type),
            status=self.mapped(values[self.i_status], "status", config.status_map, LineStatus.SUCCESS),
            amount=abs(self.amount(amount_text, self.n_amount)),
            fee=ZERO if fee is None else fee,
            currency=values[self.i_currency] or config.currency,
            occurred_at=occurred,
            completed_at=self.datetime(completed_text, self.n_completed_at) if completed_text else None,
            refund_no=values[self.i_refund_no],
            original_channel_txn_no=values[self.i_original_channel_txn_no],
            original_txn_no=values[self.i_original_txn_no],
            batch_ref=values[self.i_batch_ref],
            raw=raw,
            type_code=type_text,
            business_date=self.date(business_text, self.n_business_date) if business_text else None,
        )


class _FundBuilder(_Builder):
    fields = FUND_FIELDS
    text_fields = (
        "account_ref",
        "booking_date",
        "booking_time",
        "booked_at",
        "value_date",
        "balance_after",
        "currency",
        "counterparty_name",
        "counterparty_account",
        "memo",
        "bank_ref",
        "batch_ref",
        "business_ref",
    )

    def key(self, row: FundMovementRow) -> str:
        return row.direction

    def build(self, line_no: int, raw: str, values: list[str]) -> FundMovementRow:
        (
            i_account_ref,
            i_booking_date,
            i_booking_time,
            i_booked_at,
            i_value_date,
            i_balance_after,
            i_currency,
            i_counterparty_name,
            i_counterparty_account,
            i_memo,
            i_bank_ref,
            i_batch_ref,
            i_business_ref,
        ) = self.positions
        day_text = values[i_booking_date]
        if not day_text:
            raise FieldError(self.n_booking_date, Message(Code.VALUE_EMPTY))
        booking_date = self.date(day_text, self.n_booking_date)
        days = self.days
        days[booking_date] = days.get(booking_date, 0) + 1
        stamp, clock = values[i_booked_at], values[i_booking_time]
        # A date alone is not a timestamp: booked_at needs a date-time or a time column.
        booked_at = self.moment(stamp, day_text, clock, ("booked_at", "booking_date", "booking_time")) if stamp or clock else None
        direction, amount = self.movement(values)
        value_text = values[i_value_date]
        balance_text = values[i_balance_after]
        # tuple.__new__ with the values in field order: half the cost of the NamedTuple constructor.
        return tuple.__new__(
            FundMovementRow,
            (
                line_no,
                values[i_account_ref] or self.account_ref,
                booking_date,
                booked_at,
                self.date(value_text, self.n_value_date) if value_text else None,
                direction,
                amount,
                self.amount(balance_text, self.n_balance_after) if balance_text else None,
                values[i_currency] or self.config.currency,
                values[i_counterparty_name],
                values[i_counterparty_account],
                values[i_memo],
                values[i_bank_ref],
                values[i_batch_ref],
                False,
                (),
                raw,
                values[i_business_ref],
            ),
        )

    def movement(self, values: list[str]) -> tuple[Direction, Decimal]:
        mode = self.config.debit_credit
        if mode == "separate_columns":
            debit_text, credit_text = values[self.i_debit], values[self.i_credit]
            debit = self.amount(debit_text, self.n_debit) if debit_text else ZERO
            credit = self.amount(credit_text, self.n_credit) if credit_text else ZERO
            if debit and credit:
                raise FieldError(self.n_credit, Message(Code.GENERIC_DEBIT_AND_CREDIT))
            if not debit and not credit:
                raise FieldError(self.n_debit, Message(Code.GENERIC_NEITHER_DEBIT_NOR_CREDIT))
            return (Direction.DEBIT, abs(debit)) if debit else (Direction.CREDIT, abs(credit))
        amount_text = values[self.i_amount]
        if not amount_text:
            raise FieldError(self.n_amount, Message(Code.VALUE_EMPTY))
        amount = self.amount(amount_text, self.n_amount)
        if mode == "signed":
            return (Direction.DEBIT if amount < 0 else Direction.CREDIT), abs(amount)
        indicator = values[self.i_indicator]
        direction = self.config.indicator_map.get(indicator)
        if direction is None:
            raise FieldError(self.n_indicator, Message(Code.GENERIC_NOT_IN_MAP, value=repr(indicator), map="indicator"))
        return direction, abs(amount)
