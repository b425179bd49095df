"""ISO 20022 camt.053 bank-to-customer statement, versions 001.02 to 001.13.

The version is read from the namespace ``urn:iso:std:iso:20022:tech:xsd:camt.053.001.NN``; the
differences that matter here are handled by looking for both shapes: entry status as text (up to
.07) or ``Sts/Cd`` (.08 on), parties as ``Dbtr/Nm`` or ``Dbtr/Pty/Nm`` (.08 on), transaction
amount as ``TxDtls/Amt`` or ``AmtDtls/TxAmt/Amt``.

Statements are untrusted input: the XML is read with defusedxml, refusing DTDs, entity declarations
and external references, and streamed with iterparse (each ``Ntry`` is dropped once yielded).

Per ``Ntry``: amount/currency = ``Amt@Ccy``, direction = ``CdtDbtInd`` (the effective direction on
the account, also for a reversal), ``is_reversal`` = ``RvslInd``, booking/value dates, bank_ref =
``AcctSvcrRef``. Only booked entries (``Sts`` BOOK) are movements; others (PDNG, INFO) are skipped
with a warning. A batch entry (``NtryDtls/Btch``, or several ``TxDtls``) is ONE movement with
``batch_ref`` (PmtInfId, else MsgId) and its ``items`` (amount, EndToEndId, counterparty, memo per
TxDtls), so reconciliation can match one debit to many payouts; its ``NbOfTxs``/``TtlAmt`` are
checked against the items. A single-transaction entry carries the counterparty (the creditor of a
debit, the debtor of a credit; the other way round for a reversal), ``business_ref`` = EndToEndId
and memo = remittance information. Per statement: opening (OPBD, else PRCD) + credits - debits =
closing (CLBD), when both balances are given.

``source_line`` is the 1-based index of the entry in the file; ``raw`` is a compact XML text of it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from defusedxml.ElementTree import iterparse

from .base import (
    DEFAULT_TZ,
    ZERO,
    BatchItem,
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
    as_aware,
    open_source,
    parse_amount,
    peek,
)

NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:camt.053.001."
_NAMESPACE = re.compile(r"^\{urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d\d)\}Document$")
_DIRECTIONS = {"CRDT": Direction.CREDIT, "DBIT": Direction.DEBIT}
_OPENING_CODES = ("OPBD", "PRCD")


def raw_fields(raw: str, raw_columns: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(path, value) pairs of an entry's compact XML, e.g. ("Ntry/Amt", "754.25"), ("Ntry/Amt@Ccy", "EUR")."""
    pairs: list[tuple[str, str]] = []

    def walk(element: ET.Element, path: str) -> None:
        here = f"{path}/{element.tag}" if path else element.tag
        for name, value in element.attrib.items():
            pairs.append((f"{here}@{name}", value))
        if element.text and element.text.strip():
            pairs.append((here, element.text.strip()))
        for child in element:
            walk(child, here)

    walk(safe_fromstring(raw, forbid_dtd=True), "")
    return pairs


def parse(source: Source, *, tz: tzinfo = DEFAULT_TZ, strict_totals: bool = True) -> ParsedStatement:
    """Parse a camt.053 document (one or several ``Stmt``). Naive times are read in ``tz``."""
    stream = open_source(source)
    if not peek(stream, 1):
        raise StatementParseError("empty file: not a camt.053 statement")
    warnings: list[ParseWarning] = []
    reader = _Reader(iterparse(stream, events=("start", "end"), forbid_dtd=True), tz)
    metadata = StatementMetadata(raw_columns=())
    reader.prime(metadata)
    totals = StatementTotals()
    check = ControlCheck(strict=strict_totals, warnings=warnings)
    return ParsedStatement(
        format="CAMT053",
        kind=StatementKind.FUND,
        currency=reader.statement.currency,
        metadata=metadata,
        rows=reader.rows(metadata, totals, check, warnings),
        totals=totals,
        warnings=warnings,
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass(slots=True)
class _Statement:
    account: str = ""
    currency: str = ""
    opening: Decimal | None = None
    closing: Decimal | None = None
    movements: Decimal = ZERO
    period_start: date | None = None
    period_end: date | None = None
    closing_date: date | None = None


class _Reader:
    """Walks the iterparse events; statement headers are read as their elements end."""

    def __init__(self, events: Iterator[tuple[str, ET.Element]], tz: tzinfo) -> None:
        self._events = self._guarded(events)
        self.tz = tz
        self.ns = ""
        self.statement = _Statement()
        self.entry_index = 0
        self.in_entry = False  # elements inside an Ntry are read when the Ntry ends
        self._statement_element: ET.Element | None = None

    def _guarded(self, events: Iterator[tuple[str, ET.Element]]) -> Iterator[tuple[str, ET.Element]]:
        """Turn parser failures into located StatementParseErrors."""
        try:
            yield from events
        except ET.ParseError as exc:
            line = exc.position[0] if getattr(exc, "position", None) else None
            raise StatementParseError(f"XML is not well-formed: {exc}", line=line) from None
        except LookupError as exc:  # the XML declaration names an encoding Python does not know
            raise StatementParseError(f"XML declares an unknown encoding: {exc}", line=1) from None
        except DefusedXmlException as exc:
            raise StatementParseError(
                f"XML uses a DTD, entity declarations or external references, which statements must not "
                f"({type(exc).__name__}: {exc})"
            ) from None

    def _q(self, path: str) -> str:
        """A child path in the document's namespace."""
        return "/".join(f"{{{self.ns}}}{part}" for part in path.split("/"))

    def find_text(self, element: ET.Element, *paths: str) -> str:
        for path in paths:
            found = element.find(self._q(path))
            if found is not None and found.text and found.text.strip():
                return found.text.strip()
        return ""

    def prime(self, metadata: StatementMetadata) -> None:
        """Read the document root and the first statement's header, up to its first entry."""
        for event, element in self._events:
            if self.ns == "":
                match = _NAMESPACE.match(element.tag)
                if match is None:
                    raise StatementParseError(
                        f"not a camt.053 statement: root element {element.tag!r} is not a Document in a "
                        f"{NAMESPACE_PREFIX}NN namespace",
                        line=1,
                    )
                self.ns = element.tag[1:].split("}")[0]
                metadata.variant = f"camt.053.001.{match[1]}"
                continue
            if event == "start":
                if _local(element.tag) == "Ntry":
                    self.entry_index += 1
                    self.in_entry = True
                    break
                if _local(element.tag) == "Stmt":
                    self._statement_element = element
                continue
            if event == "end":
                self._header_element(element)
                if _local(element.tag) == "Stmt":
                    break  # a statement without entries
        if self.ns == "":
            raise StatementParseError("not a camt.053 statement: no Document element")
        first = self.statement
        metadata.account_ref = first.account
        metadata.opening_balance = first.opening
        metadata.closing_balance = first.closing
        metadata.period_start = first.period_start
        metadata.period_end = first.period_end
        metadata.statement_date = first.period_end or first.closing_date

    def _header_element(self, element: ET.Element) -> None:
        name = _local(element.tag)
        if name == "Acct":
            self.statement.account = self.find_text(element, "Id/IBAN", "Id/Othr/Id")
            self.statement.currency = self.statement.currency or self.find_text(element, "Ccy")
        elif name == "FrToDt":
            self.statement.period_start = self._date_of(self.find_text(element, "FrDtTm"), "FrToDt/FrDtTm")
            self.statement.period_end = self._date_of(self.find_text(element, "ToDtTm"), "FrToDt/ToDtTm")
        elif name == "Bal":
            self._balance(element)

    def _balance(self, element: ET.Element) -> None:
        code = self.find_text(element, "Tp/CdOrPrtry/Cd")
        amount_element = element.find(self._q("Amt"))
        if amount_element is None:
            raise StatementParseError(f"balance {code} has no Amt", field="Bal/Amt")
        amount = self._amount(amount_element.text or "", "Bal/Amt")
        if self.find_text(element, "CdtDbtInd") == "DBIT":
            amount = -amount
        self.statement.currency = amount_element.get("Ccy", self.statement.currency)
        if code in _OPENING_CODES and self.statement.opening is None:
            self.statement.opening = amount
        elif code == "CLBD":
            self.statement.closing = amount
            self.statement.closing_date = self._date_of(self.find_text(element, "Dt/Dt", "Dt/DtTm"), "Bal/Dt")

    def _amount(self, text: str, name: str) -> Decimal:
        try:
            return parse_amount(text.strip(), name)
        except FieldError as exc:
            raise exc.at(self.entry_index or None) from None

    def _date_of(self, text: str, name: str) -> date | None:
        if not text:
            return None
        try:
            return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)
        except ValueError:
            raise StatementParseError(f"{text!r} is not an ISO date or date-time", field=name) from None

    def rows(
        self, metadata: StatementMetadata, totals: StatementTotals, check: ControlCheck, warnings: list[ParseWarning]
    ) -> Iterator[FundMovementRow]:
        statements = 0
        for event, element in self._events:
            name = _local(element.tag)
            if event == "start":
                if name == "Stmt":
                    self.statement = _Statement()
                    self._statement_element = element
                elif name == "Ntry":
                    self.entry_index += 1
                    self.in_entry = True
                continue
            if name == "Ntry":
                self.in_entry = False
                row = self._entry(element, check, warnings)
                if self._statement_element is not None:
                    try:
                        self._statement_element.remove(element)  # keep memory flat
                    except ValueError:  # not a child of the statement (a malformed file): drop its content at least
                        element.clear()
                if row is not None:
                    totals.add(row.direction, row.amount)
                    yield row
            elif name == "Stmt":
                statements += 1
                self._close(metadata, check)
                self._statement_element = None
                element.clear()
            elif not self.in_entry:
                self._header_element(element)
        if statements == 0 and self.ns:
            self._close(metadata, check)
        totals.complete = True

    def _close(self, metadata: StatementMetadata, check: ControlCheck) -> None:
        statement = self.statement
        if statement.opening is not None and statement.closing is not None:
            expected = statement.opening + statement.movements
            if expected != statement.closing:
                check.fail(
                    f"closing balance (CLBD) declares {statement.closing} {statement.currency}, opening balance "
                    f"{statement.opening} + entries {statement.movements:+} give {expected}",
                    line=None,
                    field="Bal/CLBD",
                )
        if statement.closing is not None:
            metadata.closing_balance = statement.closing
        if statement.period_end is not None:
            metadata.period_end = statement.period_end

    def _entry(self, entry: ET.Element, check: ControlCheck, warnings: list[ParseWarning]) -> FundMovementRow | None:
        index = self.entry_index
        status = self.find_text(entry, "Sts/Cd", "Sts/Prtry", "Sts")
        if status != "BOOK":
            warnings.append(ParseWarning(index, "Sts", f"entry with status {status or 'none'} skipped: not booked"))
            return None
        amount_element = entry.find(self._q("Amt"))
        if amount_element is None:
            raise StatementParseError("entry has no Amt", line=index, field="Ntry/Amt")
        amount = self._amount(amount_element.text or "", "Ntry/Amt")
        currency = amount_element.get("Ccy", "")
        indicator = self.find_text(entry, "CdtDbtInd")
        direction = _DIRECTIONS.get(indicator)
        if direction is None:
            raise StatementParseError(f"{indicator!r} is not CRDT or DBIT", line=index, field="Ntry/CdtDbtInd")
        is_reversal = self.find_text(entry, "RvslInd").lower() in ("true", "1")
        self.statement.movements += amount if direction is Direction.CREDIT else -amount
        booking_text = self.find_text(entry, "BookgDt/Dt", "BookgDt/DtTm")
        if not booking_text:
            raise StatementParseError("entry has no booking date", line=index, field="Ntry/BookgDt")
        booked_at = self._datetime(self.find_text(entry, "BookgDt/DtTm"), index, "Ntry/BookgDt/DtTm")
        booking_date = self._entry_date(booking_text, index, "Ntry/BookgDt")
        value_text = self.find_text(entry, "ValDt/Dt", "ValDt/DtTm")
        value_date = self._entry_date(value_text, index, "Ntry/ValDt") if value_text else None
        details = entry.findall(self._q("NtryDtls/TxDtls"))
        batch = entry.find(self._q("NtryDtls/Btch"))
        row = FundMovementRow(
            source_line=index,
            account_ref=self.statement.account,
            booking_date=booking_date,
            booked_at=booked_at,
            value_date=value_date,
            direction=direction,
            amount=amount,
            balance_after=None,
            currency=currency,
            bank_ref=self.find_text(entry, "AcctSvcrRef"),
            is_reversal=is_reversal,
            raw=_compact(entry),
        )
        if batch is not None or len(details) > 1:
            return self._batch_row(row, entry, batch, details, check)
        return self._single_row(row, entry, details[0] if details else None)

    def _single_row(self, row: FundMovementRow, entry: ET.Element, detail: ET.Element | None) -> FundMovementRow:
        memo = self.find_text(entry, "AddtlNtryInf")
        if detail is None:
            return row._replace(memo=memo)
        name, account = self._counterparty(detail, row.direction, row.is_reversal)
        return row._replace(
            counterparty_name=name,
            counterparty_account=account,
            memo=self._remittance(detail) or memo,
            bank_ref=row.bank_ref or self.find_text(detail, "Refs/AcctSvcrRef"),
            business_ref=self._end_to_end(detail),
        )

    def _batch_row(
        self,
        row: FundMovementRow,
        entry: ET.Element,
        batch: ET.Element | None,
        details: list[ET.Element],
        check: ControlCheck,
    ) -> FundMovementRow:
        index = row.source_line
        items = tuple(self._item(detail, row, index) for detail in details)
        batch_ref = ""
        if batch is not None:
            batch_ref = self.find_text(batch, "PmtInfId", "MsgId")
            declared_count = self.find_text(batch, "NbOfTxs")
            counted = declared_count.isascii() and declared_count.isdigit()
            if declared_count and items and (not counted or int(declared_count) != len(items)):
                check.fail(
                    f"batch declares NbOfTxs {declared_count}, the entry lists {len(items)} TxDtls",
                    line=index,
                    field="Btch/NbOfTxs",
                )
            total_text = self.find_text(batch, "TtlAmt")
            if total_text and items:
                declared_total = self._amount(total_text, "Btch/TtlAmt")
                listed = sum((item.amount for item in items), ZERO)
                check.compare(declared_total, listed, what="batch TtlAmt", line=index, field="Btch/TtlAmt")
        if items:
            listed = sum((item.amount for item in items), ZERO)
            check.compare(row.amount, listed, what="entry Amt of the batch", line=index, field="Ntry/Amt")
        return row._replace(batch_ref=batch_ref, items=items, memo=self.find_text(entry, "AddtlNtryInf"))

    def _item(self, detail: ET.Element, row: FundMovementRow, index: int) -> BatchItem:
        amount_element = None
        for path in ("Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt"):
            amount_element = detail.find(self._q(path))
            if amount_element is not None:
                break
        if amount_element is None:
            raise StatementParseError("batch transaction has no amount", line=index, field="TxDtls/AmtDtls")
        name, account = self._counterparty(detail, row.direction, row.is_reversal)
        return BatchItem(
            amount=self._amount(amount_element.text or "", "TxDtls/Amt"),
            currency=amount_element.get("Ccy", row.currency),
            reference=self._end_to_end(detail),
            bank_ref=self.find_text(detail, "Refs/AcctSvcrRef"),
            counterparty_name=name,
            counterparty_account=account,
            memo=self._remittance(detail),
        )

    def _end_to_end(self, detail: ET.Element) -> str:
        reference = self.find_text(detail, "Refs/EndToEndId")
        return "" if reference == "NOTPROVIDED" else reference

    def _remittance(self, detail: ET.Element) -> str:
        lines = [
            element.text.strip() for element in detail.findall(self._q("RmtInf/Ustrd")) if element.text and element.text.strip()
        ]
        return "\n".join(lines) or self.find_text(detail, "AddtlTxInf")

    def _counterparty(self, detail: ET.Element, direction: Direction, is_reversal: bool) -> tuple[str, str]:
        # Money leaves us towards the creditor and comes to us from the debtor; a reversal undoes
        # a movement of the other direction, whose counterparty is the other party.
        pays_out = (direction is Direction.DEBIT) != is_reversal
        order = ("Cdtr", "Dbtr") if pays_out else ("Dbtr", "Cdtr")
        for party in order:
            name = self.find_text(detail, f"RltdPties/{party}/Nm", f"RltdPties/{party}/Pty/Nm")
            account = self.find_text(detail, f"RltdPties/{party}Acct/Id/IBAN", f"RltdPties/{party}Acct/Id/Othr/Id")
            if name or account:
                return name, account
        return "", ""

    def _entry_date(self, text: str, index: int, name: str) -> date:
        try:
            return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)
        except ValueError:
            raise StatementParseError(f"{text!r} is not an ISO date", line=index, field=name) from None

    def _datetime(self, text: str, index: int, name: str) -> datetime | None:
        if not text:
            return None
        try:
            return as_aware(datetime.fromisoformat(text), self.tz)
        except ValueError:
            raise StatementParseError(f"{text!r} is not an ISO date-time", line=index, field=name) from None


def _compact(element: ET.Element) -> str:
    """The element as XML without namespaces or indentation (for display and raw_fields)."""
    return ET.tostring(_stripped(element), encoding="unicode")


def _stripped(element: ET.Element) -> ET.Element:
    copy = ET.Element(_local(element.tag), element.attrib)
    copy.text = (element.text or "").strip() or None
    copy.extend(_stripped(child) for child in element)
    return copy
