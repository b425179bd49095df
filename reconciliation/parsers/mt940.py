"""SWIFT MT940 customer statement.

Tags: :20: reference, :25: account, :28C: statement number, :60F:/:60M: opening balance,
:61: movement, :86: information for the preceding :61: (several lines), :62F:/:62M: closing balance,
then optional :64:/:65:/:86: (statement-level information, not a movement's). Several statements may
follow each other; transmission headers (``0000 01INGB…``, ``940 00``, ``{1:…}{2:…}{4:``) and
end-of-message lines (``-``, ``-}``, ``-XXX``) are skipped.

Amounts use a comma decimal (``25,03``). Marks: C credit, D debit, RC reversal of a credit (an
effective debit), RD reversal of a debit (an effective credit); reversals set ``is_reversal`` and
the row's ``direction`` is the effective one. Each statement is checked: opening balance + credits
- debits = closing balance.

:61: layout: value date YYMMDD, optional entry date MMDD, mark, optional funds code letter, amount,
transaction type (N/F/S + 3 characters), account-owner reference (-> ``business_ref`` unless
NONREF), optional ``//`` bank reference (-> ``bank_ref``), optional second line of supplementary
details (appended to the memo). The :86: text becomes ``memo`` (its lines joined by newlines).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

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

_TAG = re.compile(r"^:(\d\d[A-Z]?):(.*)$")
_MOVEMENT = re.compile(
    r"^(?P<value>\d{6})(?P<entry>\d{4})?(?P<mark>RC|RD|C|D)(?P<funds>[A-Z])?(?P<amount>\d[\d,]*)"
    r"(?P<type>[NFS][A-Z0-9 ]{3})(?P<owner>.*?)(?://(?P<bank>.*))?$"
)
_BALANCE = re.compile(r"^(?P<mark>[CD])(?P<date>\d{6})(?P<currency>[A-Z]{3})(?P<amount>\d[\d,]*)$")
_MULTILINE_TAGS = frozenset({"61", "86"})  # :61: may carry a supplementary-details line
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


def parse(source: Source, *, strict_totals: bool = True, encoding: str = "utf-8") -> ParsedStatement:
    """Parse an MT940 file (one or several statements). SWIFT text is ASCII; some banks export
    Latin-1: pass ``encoding`` then."""
    stream = open_source(source)
    reader = _Reader(iter(stream), encoding)
    metadata = StatementMetadata(variant="MT940", raw_columns=())
    warnings: list[ParseWarning] = []
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


@dataclass(slots=True)
class _Statement:
    reference: str = ""
    account: str = ""
    currency: str = ""
    opening: Decimal | None = None
    opening_date: date | None = None
    opening_line: int = 0
    movements: Decimal = ZERO  # signed sum: credits - debits
    moved: bool = False


@dataclass(slots=True)
class _Field:
    tag: str
    line: int
    lines: list[str] = field(default_factory=list)


class _Reader:
    """Groups lines into tag fields and drives the statements."""

    def __init__(self, lines: Iterator[bytes], encoding: str) -> None:
        self._fields = self._tag_fields(lines, encoding)
        self._pending: _Field | None = None
        self.statement = _Statement()
        self.seen_statement = False

    def _tag_fields(self, lines: Iterator[bytes], encoding: str) -> Iterator[_Field]:
        current: _Field | None = None
        for line_no, data in enumerate(lines, start=1):
            try:
                text = data.decode(encoding).rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise StatementParseError(
                    f"bytes are not valid {encoding} (byte 0x{data[exc.start : exc.start + 1].hex()})", line=line_no
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
            raise StatementParseError("not an MT940 statement: no :20: tag found")
        if self.statement.opening is None:
            raise StatementParseError("statement has no opening balance (:60F: or :60M:)", field=":60F:")
        return self.statement

    def _header_field(self, item: _Field) -> None:
        text = "\n".join(item.lines).strip()
        if item.tag == "20":
            self.statement = _Statement(reference=text)
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
            raise StatementParseError("statement has no closing balance (:62F:): the file may be truncated", field=":62F:")
        totals.complete = True

    def _movement(self, item: _Field, info: _Field | None) -> FundMovementRow:
        statement = self.statement
        if statement.opening is None:
            raise FieldError(":61:", "movement before the opening balance (:60F:)")
        first = item.lines[0]
        match = _MOVEMENT.match(first)
        if match is None:
            raise FieldError(":61:", f"{first!r} is not an MT940 movement line")
        value_date = _yymmdd(match["value"], ":61: value date")
        booking_date = value_date
        if match["entry"]:
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

    def _close(self, item: _Field, metadata: StatementMetadata, check: ControlCheck) -> None:
        statement = self.statement
        text = "\n".join(item.lines).strip()
        mark, when, currency, amount = _balance(text, item)
        closing = amount if mark == "C" else -amount
        if statement.opening is None:
            raise StatementParseError("closing balance without an opening balance", line=item.line, field=f":{item.tag}:")
        if currency != statement.currency:
            raise StatementParseError(
                f"closing balance currency {currency} differs from the opening balance's {statement.currency}",
                line=item.line,
                field=f":{item.tag}:",
            )
        expected = statement.opening + statement.movements
        if expected != closing:
            check.fail(
                f"closing balance declares {_signed(closing)} {currency}, opening balance {_signed(statement.opening)}"
                f" + movements {_signed(statement.movements)} give {_signed(expected)}",
                line=item.line,
                field=f":{item.tag}:",
            )
        metadata.closing_balance = closing
        metadata.period_end = when
        statement.opening = None  # a new statement must declare its own


def _signed(amount: Decimal) -> str:
    return f"{amount:+}"


def _balance(text: str, item: _Field) -> tuple[str, date, str, Decimal]:
    match = _BALANCE.match(text)
    tag = f":{item.tag}:"
    if match is None:
        raise StatementParseError(f"{text!r} is not a balance (C/D, YYMMDD, currency, amount)", line=item.line, field=tag)
    try:
        return match["mark"], _yymmdd(match["date"], tag), match["currency"], _amount(match["amount"], tag)
    except FieldError as exc:
        raise exc.at(item.line) from None


def _amount(text: str, name: str) -> Decimal:
    if text.count(",") != 1:
        raise FieldError(name, f"{text!r} is not an MT940 amount (digits with one decimal comma)")
    whole, fraction = text.split(",")
    return parse_amount(f"{whole}.{fraction or '0'}", name)


def _yymmdd(text: str, name: str) -> date:
    try:
        # SWIFT dates carry two year digits; statements are of this century.
        return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise FieldError(name, f"{text!r} is not a date (YYMMDD)") from None


def _entry_date(mmdd: str, value_date: date) -> date:
    """Booking date MMDD next to a value date: take the year that puts them closest together."""
    candidates = []
    for year in (value_date.year - 1, value_date.year, value_date.year + 1):
        try:
            candidates.append(date(year, int(mmdd[:2]), int(mmdd[2:])))
        except ValueError:
            continue  # 29 February exists in some of the years only
    if not candidates:
        raise FieldError(":61: entry date", f"{mmdd!r} is not a date (MMDD)")
    return min(candidates, key=lambda candidate: abs((candidate - value_date).days))
