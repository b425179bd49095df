"""SWIFT MT940 customer statement.

Tags: :20: reference, :25: account, :28C: statement number, :60F:/:60M: opening balance,
:61: movement, :86: information for the preceding :61: (several lines), :62F:/:62M: closing balance,
then optional :64:/:65:/:86: (statement-level information, not a movement's). Several statements may
follow each other; transmission headers (``0000 01INGB…``, ``940 00``, ``{1:…}{2:…}{4:``) and
end-of-message lines (``-``, ``-}``, ``-XXX``) are skipped.

Amounts use a comma decimal (``25,03``); some banks leave it out of whole amounts (``500``), which
is read as a whole amount. Marks: C credit, D debit, RC reversal of a credit (an
effective debit), RD reversal of a debit (an effective credit); reversals set ``is_reversal`` and
the row's ``direction`` is the effective one. Each statement is checked: opening balance + credits
- debits = closing balance.

:61: layout: value date YYMMDD, optional entry date MMDD (some banks fill it with four spaces: no entry
date then, the booking date is the value date), mark, optional funds code letter, amount,
transaction type (N/F/S + 3 characters), account-owner reference (-> ``business_ref`` unless
NONREF), optional ``//`` bank reference (-> ``bank_ref``), optional second line of supplementary
details (appended to the memo). The :86: text becomes ``memo`` (its lines joined by newlines).
Banks that compute interest on 30-day months emit value dates such as 30 February: the last day of
that month is taken, with a warning naming the line and the value.

A statement with its balances and no :61: is a quiet day: no rows, and its balances must agree.

Text: SWIFT's character set is ASCII, but banks write names in :86: in their code page. Unless
``encoding`` is given, the file is read once to choose: UTF-8 (with or without BOM) when it is valid
UTF-8, else the most plausible of CP1252, Latin-1 and CP437 (see ``charset``).

Metadata: ``metadata.account_ref`` is the first statement's :25: text and ``ParsedStatement.currency``
its currency (of :60F:), both known when ``parse`` returns; ``metadata.statements`` lists every
statement of the file (its :20: line and reference, :25: account and currency), also complete when
``parse`` returns, so the file can be checked against the channel's bank accounts before any row is
read.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import BinaryIO, NamedTuple

from .base import (
    ZERO,
    ControlCheck,
    Direction,
    FieldError,
    FundMovementRow,
    ParsedStatement,
    ParseWarning,
    Source,
    StatementKind,
    StatementMetadata,
    StatementParseError,
    StatementTotals,
    open_source,
    parse_amount,
)
from .charset import checked, western_encoding
from .messages import Code, Message

_TAG = re.compile(r"^:(\d\d[A-Z]?):(.*)$")
_MOVEMENT = re.compile(
    r"^(?P<value>\d{6})(?P<entry>\d{4}| {4})?(?P<mark>RC|RD|C|D)(?P<funds>[A-Z])?(?P<amount>\d[\d,]*)"
    r"(?P<type>[NFS][A-Z0-9 ]{3})(?P<owner>.*?)(?://(?P<bank>.*))?$"
)
_BALANCE = re.compile(r"^(?P<mark>[CD])(?P<date>\d{6})(?P<currency>[A-Z]{3})(?P<amount>\d[\d,]*)$")
_MULTILINE_TAGS = frozenset({"61", "86"})  # :61: may carry a supplementary-details line
_VALUE_DATE = ":61: value date"
_EFFECTIVE = {"C": Direction.CREDIT, "D": Direction.DEBIT, "RC": Direction.DEBIT, "RD": Direction.CREDIT}


def raw_fields(raw: str, raw_columns: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(tag, value) pairs of a movement's raw text (its :61: and :86: lines)."""
    pairs: list[tuple[str, str]] = []
    for line in raw.splitlines():
        tag = _TAG.match(line)
        if tag:
            pairs.append((tag[1], tag[2]))
        elif pairs:
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + "\n" + line)
    return pairs


class StatementHeader(NamedTuple):
    """One statement of an MT940 file, as its header declares it."""

    line: int  # line of its :20:
    reference: str  # :20:
    account: str  # :25: as written (an IBAN, an account number, BIC/account…)
    currency: str  # of its opening balance :60F:/:60M: ("" when that is missing or unreadable)


@dataclass(slots=True)
class MT940Metadata(StatementMetadata):
    statements: tuple[StatementHeader, ...] = ()

    @property
    def accounts(self) -> tuple[tuple[str, str], ...]:
        """The distinct (account, currency) pairs of the file's statements, in file order."""
        return tuple(dict.fromkeys((s.account, s.currency) for s in self.statements))


def parse(source: Source, *, strict_totals: bool = True, encoding: str | None = None) -> ParsedStatement:
    """Parse an MT940 file (one or several statements). ``encoding`` (e.g. "cp1252") overrides the
    detection of the file's text encoding."""
    stream = open_source(source)
    start = stream.tell()
    encoding = _encoding(stream, encoding)
    headers = _headers(_tag_fields(iter(stream), encoding))
    stream.seek(start)
    warnings: list[ParseWarning] = []
    reader = _Reader(iter(stream), encoding, warnings)
    metadata = MT940Metadata(variant="MT940", raw_columns=(), statements=headers)
    totals = StatementTotals()
    check = ControlCheck(strict=strict_totals, warnings=warnings)
    # Read up to the first movement so the header facts are known when parse returns.
    first = reader.prime()
    metadata.account_ref = first.account
    metadata.opening_balance = first.opening
    metadata.period_start = first.opening_date
    metadata.statement_date = first.opening_date
    return ParsedStatement(
        format="MT940",
        kind=StatementKind.FUND,
        currency=first.currency,
        metadata=metadata,
        rows=reader.rows(metadata, totals, check),
        totals=totals,
        warnings=warnings,
    )


def statement_accounts(source: Source, *, encoding: str | None = None) -> list[tuple[str, str]]:
    """(account, currency) of every statement in the file, in order: the :25: text and the currency of
    its opening balance. Movements are not read (the same shape as ``camt053.statement_accounts``)."""
    stream = open_source(source)
    headers = _headers(_tag_fields(iter(stream), _encoding(stream, encoding)))
    if not headers:
        raise StatementParseError(Message(Code.MT940_NO_20))
    return [(header.account, header.currency) for header in headers]


def _encoding(stream: BinaryIO, encoding: str | None) -> str:
    """The configured encoding, checked, else the one detected (the stream is left where it was)."""
    if encoding is not None:
        return checked(encoding)
    start = stream.tell()
    detected = western_encoding(iter(stream))
    stream.seek(start)
    return detected


def _headers(fields: Iterator[_Field]) -> tuple[StatementHeader, ...]:
    """Every statement's :20:, :25: and currency: a quick pass, lenient (the real pass reports errors)."""
    found: list[StatementHeader] = []
    for item in fields:
        text = "\n".join(item.lines).strip()
        if item.tag == "20":
            found.append(StatementHeader(item.line, text, "", ""))
        elif found and item.tag == "25":
            found[-1] = found[-1]._replace(account=text)
        elif found and item.tag in ("60F", "60M") and not found[-1].currency:
            match = _BALANCE.match(text)
            found[-1] = found[-1]._replace(currency=match["currency"] if match else "")
    return tuple(found)


@dataclass(slots=True)
class _Statement:
    reference: str = ""
    line: int = 0  # of its :20:
    account: str = ""
    currency: str = ""
    opening: Decimal | None = None
    opening_date: date | None = None
    opening_line: int = 0
    movements: Decimal = ZERO  # signed sum: credits - debits
    moved: bool = False
    closed: bool = False  # its closing balance was read


@dataclass(slots=True)
class _Field:
    tag: str
    line: int
    lines: list[str] = field(default_factory=list)


def _tag_fields(lines: Iterator[bytes], encoding: str) -> Iterator[_Field]:
    current: _Field | None = None
    for line_no, data in enumerate(lines, start=1):
        try:
            text = data.decode(encoding).rstrip("\r\n")
        except UnicodeDecodeError as exc:
            bad = data[exc.start : exc.start + 1].hex()
            raise StatementParseError(
                Message(Code.MT940_UNDECODABLE, encoding=encoding, byte=bad, offset=exc.start), line=line_no
            ) from None
        if line_no == 1:
            text = text.lstrip("\ufeff")
        if text.startswith("{"):
            # SWIFT FIN envelope "{1:…}{2:…}{4:" – the message text follows after "{4:".
            text = text.split("{4:", 1)[1] if "{4:" in text else ""
        tag = _TAG.match(text)
        if tag:
            if current is not None:
                yield current
            current = _Field(tag[1], line_no, [tag[2]])
        elif text.startswith("-") and (text.strip("-}") == "" or text.startswith("-XXX")):
            if current is not None:
                yield current
            current = None
        elif current is not None and current.tag in _MULTILINE_TAGS:
            current.lines.append(text)
        # Other lines (transmission headers between messages) are skipped.
    if current is not None:
        yield current


class _Reader:
    """Groups lines into tag fields and drives the statements."""

    def __init__(self, lines: Iterator[bytes], encoding: str, warnings: list[ParseWarning]) -> None:
        self._fields = _tag_fields(lines, encoding)
        self._pending: _Field | None = None
        self.statement = _Statement()
        self.seen_statement = False
        self.warnings = warnings

    def _next(self) -> _Field | None:
        if self._pending is not None:
            found, self._pending = self._pending, None
            return found
        return next(self._fields, None)

    def prime(self) -> _Statement:
        """Read the first statement's header (up to its first movement or closing balance)."""
        while (item := self._next()) is not None:
            if item.tag in ("61", "62F", "62M"):
                self._pending = item
                break
            self._header_field(item)
        if not self.seen_statement:
            raise StatementParseError(Message(Code.MT940_NO_20))
        if self.statement.opening is None:
            raise self._no_opening()
        return self.statement

    def _no_opening(self) -> StatementParseError:
        return StatementParseError(
            Message(Code.MT940_NO_OPENING, reference=repr(self.statement.reference)),
            line=self.statement.line,
            field=":60F:",
        )

    def _header_field(self, item: _Field) -> None:
        text = "\n".join(item.lines).strip()
        if item.tag == "20":
            if self.statement.opening is not None:
                raise StatementParseError(
                    Message(
                        Code.MT940_NO_CLOSING_BEFORE_NEXT,
                        reference=repr(self.statement.reference),
                        statement_line=self.statement.line,
                    ),
                    line=item.line,
                    field=":62F:",
                )
            if self.seen_statement and not self.statement.closed:
                raise self._no_opening()
            self.statement = _Statement(reference=text, line=item.line)
            self.seen_statement = True
        elif item.tag == "25":
            self.statement.account = text
        elif item.tag in ("60F", "60M"):
            mark, when, currency, amount = _balance(text, item)
            self.statement.opening = amount if mark == "C" else -amount
            self.statement.opening_date = when
            self.statement.currency = currency
            self.statement.opening_line = item.line

    def rows(self, metadata: StatementMetadata, totals: StatementTotals, check: ControlCheck) -> Iterator[FundMovementRow]:
        item = self._next()
        while item is not None:
            following = self._next()
            if item.tag == "61":
                info = None
                if following is not None and following.tag == "86":
                    info, following = following, self._next()
                try:
                    row = self._movement(item, info)
                except FieldError as exc:
                    raise exc.at(item.line) from None
                totals.add(row.direction, row.amount)
                yield row
            elif item.tag in ("62F", "62M"):
                self._close(item, metadata, check)
            elif item.tag in ("20", "25", "60F", "60M"):
                self._header_field(item)
            item = following
        if self.statement.opening is not None:
            raise StatementParseError(
                Message(
                    Code.MT940_NO_CLOSING_AT_END, reference=repr(self.statement.reference), statement_line=self.statement.line
                ),
                line=self.statement.line,
                field=":62F:",
            )
        totals.complete = True

    def _movement(self, item: _Field, info: _Field | None) -> FundMovementRow:
        statement = self.statement
        if statement.opening is None:
            raise FieldError(":61:", Message(Code.MT940_MOVEMENT_BEFORE_OPENING))
        first = item.lines[0]
        match = _MOVEMENT.match(first)
        if match is None:
            raise FieldError(":61:", Message(Code.MT940_BAD_MOVEMENT, value=repr(first)))
        value_date = self._value_date(match["value"], item.line)
        booking_date = value_date
        if match["entry"] and match["entry"].strip():
            booking_date = _entry_date(match["entry"], value_date)
        amount = _amount(match["amount"], ":61: amount")
        mark = match["mark"]
        direction = _EFFECTIVE[mark]
        statement.movements += amount if direction is Direction.CREDIT else -amount
        owner = match["owner"].strip()
        memo_lines = [line.strip() for line in (info.lines if info else [])]
        memo_lines += [line.strip() for line in item.lines[1:]]  # supplementary details
        raw_lines = [f":61:{item.lines[0]}", *item.lines[1:]]
        if info is not None:
            raw_lines += [f":86:{info.lines[0]}", *info.lines[1:]]
        return FundMovementRow(
            source_line=item.line,
            account_ref=statement.account,
            booking_date=booking_date,
            booked_at=None,
            value_date=value_date,
            direction=direction,
            amount=amount,
            balance_after=None,
            currency=statement.currency,
            memo="\n".join(line for line in memo_lines if line),
            bank_ref=(match["bank"] or "").strip(),
            is_reversal=mark in ("RC", "RD"),
            raw="\n".join(raw_lines),
            business_ref="" if owner.upper() == "NONREF" else owner,
        )

    def _value_date(self, text: str, line: int) -> date:
        """A :61: value date; a day past the end of its month (30 February, from banks that count 30-day
        months) is taken as the month's last day, with a warning."""
        try:
            return _yymmdd(text, _VALUE_DATE)
        except FieldError:
            year, month, day = 2000 + int(text[:2]), int(text[2:4]), int(text[4:6])
            if not (1 <= month <= 12 and 28 < day <= 31):
                raise
        last = date(year, month, calendar.monthrange(year, month)[1])
        self.warnings.append(
            ParseWarning(
                line,
                _VALUE_DATE,
                Message(
                    Code.MT940_VALUE_DATE_PAST_MONTH,
                    value=repr(text),
                    month=f"{year}-{month:02d}",
                    days=last.day,
                    taken=last.isoformat(),
                ),
            )
        )
        return last

    def _close(self, item: _Field, metadata: StatementMetadata, check: ControlCheck) -> None:
        statement = self.statement
        text = "\n".join(item.lines).strip()
        mark, when, currency, amount = _balance(text, item)
        closing = amount if mark == "C" else -amount
        if statement.opening is None:
            raise StatementParseError(Message(Code.MT940_CLOSING_WITHOUT_OPENING), line=item.line, field=f":{item.tag}:")
        if currency != statement.currency:
            raise StatementParseError(
                Message(Code.MT940_CLOSING_CURRENCY, currency=currency, opening_currency=statement.currency),
                line=item.line,
                field=f":{item.tag}:",
            )
        expected = statement.opening + statement.movements
        if expected != closing:
            check.fail(
                Message(
                    Code.MT940_BALANCE_MISMATCH,
                    closing=_signed(closing),
                    currency=currency,
                    opening=_signed(statement.opening),
                    movements=_signed(statement.movements),
                    expected=_signed(expected),
                ),
                line=item.line,
                field=f":{item.tag}:",
            )
        metadata.closing_balance = closing
        metadata.period_end = when
        statement.opening = None  # a new statement must declare its own
        statement.closed = True


def _signed(amount: Decimal) -> str:
    return f"{amount:+}"


def _balance(text: str, item: _Field) -> tuple[str, date, str, Decimal]:
    match = _BALANCE.match(text)
    tag = f":{item.tag}:"
    if match is None:
        raise StatementParseError(Message(Code.MT940_BAD_BALANCE, value=repr(text)), line=item.line, field=tag)
    try:
        return match["mark"], _yymmdd(match["date"], tag), match["currency"], _amount(match["amount"], tag)
    except FieldError as exc:
        raise exc.at(item.line) from None


def _amount(text: str, name: str) -> Decimal:
    """``25,03`` -> 25.03; ``500`` (no decimal comma, as some banks write whole amounts) -> 500."""
    if text.count(",") > 1:
        raise FieldError(name, Message(Code.MT940_BAD_AMOUNT, value=repr(text)))
    whole, comma, fraction = text.partition(",")
    return parse_amount(f"{whole}.{fraction or '0'}" if comma else whole, name)


def _yymmdd(text: str, name: str) -> date:
    try:
        # SWIFT dates carry two year digits; statements are of this century.
        return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise FieldError(name, Message(Code.MT940_BAD_DATE, value=repr(text))) from None


def _entry_date(mmdd: str, value_date: date) -> date:
    """Booking date MMDD next to a value date: take the year that puts them closest together."""
    candidates = []
    for year in (value_date.year - 1, value_date.year, value_date.year + 1):
        try:
            candidates.append(date(year, int(mmdd[:2]), int(mmdd[2:])))
        except ValueError:
            continue  # 29 February exists in some of the years only
    if not candidates:
        raise FieldError(":61: entry date", Message(Code.MT940_BAD_ENTRY_DATE, value=repr(mmdd)))
    return min(candidates, key=lambda candidate: abs((candidate - value_date).days))
