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
with a warning each, and a statement that skipped several says how many and why (its balance check too,
since skipped entries are not in the sum). An entry without ``Sts`` is taken as booked (a camt.053
statement reports booked entries by definition), with one warning per statement counting them.
A batch entry (``NtryDtls/Btch``, or several ``TxDtls``) is ONE movement with
``batch_ref`` (PmtInfId, else MsgId) and its ``items`` (amount, EndToEndId, counterparty, memo per
TxDtls), so reconciliation can match one debit to many payouts; its ``NbOfTxs``/``TtlAmt`` are
checked against the items. A single-transaction entry carries the counterparty (the creditor of a
debit, the debtor of a credit; the other way round for a reversal), ``business_ref`` = EndToEndId
and memo = remittance information. Per statement: opening (OPBD, else PRCD) + credits - debits =
closing (CLBD), when both balances are given.

Dates: a booking or value date given as a date-time in UTC (``Z`` or ``+00:00``) is turned into the
account's local date in ``tz``; one with another offset is the bank's own local time and keeps its
written date; a naive one is read in ``tz``. A statement without entries is a quiet day, not an error.

A ZIP archive holding one or more XML members (``*.xml``, read in the archive's order, each a camt.053
document) is read as one statement file, under ``archive_limits``.

``source_line`` is the 1-based index of the entry in the file (counted on across the members of an
archive); ``raw`` is a compact XML text of it. ``statement_accounts`` lists the account and currency of
every ``Stmt`` without building entries, for a caller that must know them before it imports any.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import BinaryIO

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from defusedxml.ElementTree import iterparse

from .base import (
    DEFAULT_ARCHIVE_LIMITS,
    DEFAULT_TZ,
    ZERO,
    Archive,
    ArchiveLimits,
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
    is_zip,
    open_source,
    parse_amount,
    peek,
)
from .messages import Code, Message, Param, names_or_none, shortened_list

NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:camt.053.001."
_NAMESPACE = re.compile(r"^\{urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d\d)\}Document$")
_DIRECTIONS = {"CRDT": Direction.CREDIT, "DBIT": Direction.DEBIT}
_OPENING_CODES = ("OPBD", "PRCD")
_LISTED_ENTRIES = 10  # entry numbers named in a warning about several entries


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


def parse(
    source: Source,
    *,
    tz: tzinfo = DEFAULT_TZ,
    strict_totals: bool = True,
    archive_limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
) -> ParsedStatement:
    """Parse a camt.053 document (one or several ``Stmt``), or a ZIP archive of such documents. Naive
    times are read in ``tz``, UTC dates turned into ``tz``'s dates."""
    stream = open_source(source)
    if not peek(stream, 1):
        raise StatementParseError(_EMPTY)
    documents = _documents(stream, archive_limits)
    warnings: list[ParseWarning] = []
    reader = _Reader(*next(documents), tz)
    metadata = StatementMetadata(raw_columns=())
    reader.prime(metadata)
    totals = StatementTotals()
    check = ControlCheck(strict=strict_totals, warnings=warnings)
    return ParsedStatement(
        format="CAMT053",
        kind=StatementKind.FUND,
        currency=reader.statement.currency,
        metadata=metadata,
        rows=_all_rows(reader, documents, tz, metadata, totals, check, warnings),
        totals=totals,
        warnings=warnings,
    )


def _all_rows(
    reader: _Reader,
    documents: Iterator[tuple[BinaryIO, str]],
    tz: tzinfo,
    metadata: StatementMetadata,
    totals: StatementTotals,
    check: ControlCheck,
    warnings: list[ParseWarning],
) -> Iterator[FundMovementRow]:
    """The rows of every document in turn; entries are numbered on across an archive's members."""
    yield from reader.rows(metadata, totals, check, warnings)
    for document in documents:
        following = _Reader(*document, tz)
        following.entry_index = reader.entry_index
        following.prime(None)
        reader = following
        yield from reader.rows(metadata, totals, check, warnings)
    totals.complete = True


_EMPTY = Message(Code.EMPTY_FILE, what=Message(Code.A_CAMT053_STATEMENT))


def _documents(stream: BinaryIO, limits: ArchiveLimits) -> Iterator[tuple[BinaryIO, Param]]:
    """(binary stream, where) of each XML document: the file itself, or each XML member of a ZIP archive,
    opened only when the previous one has been read."""
    if not is_zip(stream):
        yield stream, ""
        return
    archive = Archive(stream, limits)
    members = [name for name in archive.names if name.lower().endswith(".xml")]
    if not members:
        raise StatementParseError(Message(Code.CAMT_NO_XML_MEMBER, members=names_or_none(archive.names)))
    for name in members:
        with archive.open(name) as member:
            yield member, Message(Code.IN_ZIP_MEMBER, member=repr(name))


def statement_accounts(source: Source, *, archive_limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS) -> list[tuple[str, str]]:
    """(account, currency) of every ``Stmt`` in the file, in order: ``Acct/Id`` (IBAN, else Othr/Id) and
    ``Acct/Ccy``, else the currency of the statement's first balance. Entries are skipped, not built."""
    found: list[tuple[str, str]] = []
    stream = open_source(source)
    if not peek(stream, 1):
        raise StatementParseError(_EMPTY)
    for document, where in _documents(stream, archive_limits):
        reader = _Reader(document, where, DEFAULT_TZ)
        path: list[str] = []
        account = currency = ""
        for event, element in reader._events:
            name = _local(element.tag)
            if event == "start":
                path.append(name)
                if name == "Stmt":
                    account = currency = ""
                continue
            path.pop()
            parent = path[-1] if path else ""
            if parent != "Stmt" and name != "Stmt":
                if name == "Ntry":
                    element.clear()
                continue
            if name == "Acct":
                account = _child_text(element, "Id", "IBAN") or _child_text(element, "Id", "Othr", "Id")
                currency = _child_text(element, "Ccy") or currency
            elif name == "Bal" and not currency:
                amount = next((child for child in element if _local(child.tag) == "Amt"), None)
                currency = amount.get("Ccy", "") if amount is not None else ""
            elif name == "Stmt":
                found.append((account, currency))
                element.clear()
            elif name == "Ntry":
                element.clear()
    return found


def _child_text(element: ET.Element, *names: str) -> str:
    """The text at a path of local names below ``element`` (namespaces ignored), or ""."""
    for name in names:
        element = next((child for child in element if _local(child.tag) == name), None)
        if element is None:
            return ""
    return (element.text or "").strip()


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
    skipped: Counter = field(default_factory=Counter)  # entries not booked, by status
    skipped_entries: list[int] = field(default_factory=list)
    unstated_entries: list[int] = field(default_factory=list)  # entries without Sts, taken as booked

    def skipped_summary(self) -> Message | None:
        """``7 entries skipped as not booked (status INFO: 2, PDNG: 5)``, or None when none was."""
        count = sum(self.skipped.values())
        if not count:
            return None
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(self.skipped.items()))
        return Message(Code.CAMT_SKIPPED, count=count, statuses=statuses)


def _entry_list(entries: list[int]) -> Param:
    return shortened_list([str(number) for number in entries], limit=_LISTED_ENTRIES)


class _Reader:
    """Walks the iterparse events; statement headers are read as their elements end."""

    def __init__(self, stream: BinaryIO, where: Param, tz: tzinfo) -> None:
        # ``where`` names the archive member in errors about the XML itself ("" for a bare file).
        self.where = where
        self._events = self._guarded(iterparse(stream, events=("start", "end"), forbid_dtd=True))
        self.tz = tz
        self.ns = ""
        self.statement = _Statement()
        self.entry_index = 0
        self.in_entry = False  # elements inside an Ntry are read when the Ntry ends
        self._statement_element: ET.Element | None = None
        self._close_pending = False  # prime() read a whole statement without entries

    def _guarded(self, events: Iterator[tuple[str, ET.Element]]) -> Iterator[tuple[str, ET.Element]]:
        """Turn parser failures into located StatementParseErrors."""
        try:
            yield from events
        except ET.ParseError as exc:
            line = exc.position[0] if getattr(exc, "position", None) else None
            raise StatementParseError(Message(Code.CAMT_NOT_WELL_FORMED, where=self.where, detail=str(exc)), line=line) from None
        except LookupError as exc:  # the XML declaration names an encoding Python does not know
            raise StatementParseError(Message(Code.CAMT_UNKNOWN_ENCODING, where=self.where, detail=str(exc)), line=1) from None
        except DefusedXmlException as exc:
            raise StatementParseError(
                Message(Code.CAMT_FORBIDDEN_XML, where=self.where, detail=f"{type(exc).__name__}: {exc}")
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

    def prime(self, metadata: StatementMetadata | None) -> None:
        """Read the document root and the first statement's header, up to its first entry. ``metadata``
        (None for the later members of an archive) takes the file's facts from that first statement."""
        for event, element in self._events:
            if self.ns == "":
                match = _NAMESPACE.match(element.tag)
                if match is None:
                    raise StatementParseError(
                        Message(Code.CAMT_BAD_ROOT, where=self.where, element=repr(element.tag), namespace=NAMESPACE_PREFIX),
                        line=1,
                    )
                self.ns = element.tag[1:].split("}")[0]
                if metadata is not None:
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
                    self._close_pending = True  # a statement without entries: closed when rows are read
                    break
        if self.ns == "":
            raise StatementParseError(Message(Code.CAMT_NO_DOCUMENT, where=self.where))
        if metadata is None:
            return
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
            raise StatementParseError(Message(Code.CAMT_BALANCE_NO_AMOUNT, balance=code), field="Bal/Amt")
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
            return self._local_date(text)
        except ValueError:
            raise StatementParseError(Message(Code.CAMT_BAD_DATE_OR_DATETIME, value=repr(text)), field=name) from None

    def rows(
        self, metadata: StatementMetadata, totals: StatementTotals, check: ControlCheck, warnings: list[ParseWarning]
    ) -> Iterator[FundMovementRow]:
        statements = 0
        if self._close_pending:
            statements += 1
            self._close(metadata, check, warnings)
            self._statement_element = None
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
                self._close(metadata, check, warnings)
                self._statement_element = None
                element.clear()
            elif not self.in_entry:
                self._header_element(element)
        if statements == 0 and self.ns:
            self._close(metadata, check, warnings)

    def _close(self, metadata: StatementMetadata, check: ControlCheck, warnings: list[ParseWarning]) -> None:
        statement = self.statement
        account: Param = statement.account or Message(Code.NO_ACCOUNT)
        if statement.unstated_entries:
            entries = statement.unstated_entries
            warnings.append(
                ParseWarning(
                    entries[0] if len(entries) == 1 else None,
                    "Ntry/Sts",
                    Message(Code.CAMT_ENTRIES_WITHOUT_STATUS, account=account, count=len(entries), entries=_entry_list(entries)),
                )
            )
        skipped = statement.skipped_summary()
        if skipped is not None and len(statement.skipped_entries) > 1:
            warnings.append(
                ParseWarning(
                    None,
                    "Ntry/Sts",
                    Message(
                        Code.CAMT_SKIPPED_ENTRIES,
                        account=account,
                        skipped=skipped,
                        entries=_entry_list(statement.skipped_entries),
                    ),
                )
            )
        if statement.opening is not None and statement.closing is not None:
            expected = statement.opening + statement.movements
            if expected != statement.closing:
                # Skipped entries are not in the sum: say so, they may be the difference.
                figures = {
                    "account": account,
                    "closing": str(statement.closing),
                    "currency": statement.currency,
                    "opening": str(statement.opening),
                    "movements": f"{statement.movements:+}",
                    "expected": str(expected),
                }
                if skipped is not None:
                    problem = Message(Code.CAMT_BALANCE_MISMATCH_SKIPPED, skipped=skipped, **figures)
                else:
                    problem = Message(Code.CAMT_BALANCE_MISMATCH, **figures)
                check.fail(problem, line=None, field="Bal/CLBD")
        if statement.closing is not None:
            metadata.closing_balance = statement.closing
        if statement.period_end is not None:
            metadata.period_end = statement.period_end

    def _entry(self, entry: ET.Element, check: ControlCheck, warnings: list[ParseWarning]) -> FundMovementRow | None:
        index = self.entry_index
        status = self.find_text(entry, "Sts/Cd", "Sts/Prtry", "Sts")
        if not status:
            self.statement.unstated_entries.append(index)
        elif status != "BOOK":
            warnings.append(ParseWarning(index, "Sts", Message(Code.CAMT_ENTRY_NOT_BOOKED, status=status)))
            self.statement.skipped[status or "none"] += 1
            self.statement.skipped_entries.append(index)
            return None
        amount_element = entry.find(self._q("Amt"))
        if amount_element is None:
            raise StatementParseError(Message(Code.CAMT_ENTRY_NO_AMOUNT), line=index, field="Ntry/Amt")
        amount = self._amount(amount_element.text or "", "Ntry/Amt")
        currency = amount_element.get("Ccy", "")
        indicator = self.find_text(entry, "CdtDbtInd")
        direction = _DIRECTIONS.get(indicator)
        if direction is None:
            raise StatementParseError(Message(Code.CAMT_BAD_INDICATOR, value=repr(indicator)), line=index, field="Ntry/CdtDbtInd")
        is_reversal = self.find_text(entry, "RvslInd").lower() in ("true", "1")
        self.statement.movements += amount if direction is Direction.CREDIT else -amount
        booking_text = self.find_text(entry, "BookgDt/Dt", "BookgDt/DtTm")
        if not booking_text:
            raise StatementParseError(Message(Code.CAMT_ENTRY_NO_BOOKING_DATE), line=index, field="Ntry/BookgDt")
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
                    Message(Code.CAMT_BATCH_COUNT_MISMATCH, declared=declared_count, listed=len(items)),
                    line=index,
                    field="Btch/NbOfTxs",
                )
            total_text = self.find_text(batch, "TtlAmt")
            if total_text and items:
                declared_total = self._amount(total_text, "Btch/TtlAmt")
                listed = sum((item.amount for item in items), ZERO)
                check.compare(declared_total, listed, code=Code.CAMT_BATCH_TOTAL_MISMATCH, line=index, field="Btch/TtlAmt")
        if items:
            listed = sum((item.amount for item in items), ZERO)
            check.compare(row.amount, listed, code=Code.CAMT_BATCH_ENTRY_MISMATCH, line=index, field="Ntry/Amt")
        return row._replace(batch_ref=batch_ref, items=items, memo=self.find_text(entry, "AddtlNtryInf"))

    def _item(self, detail: ET.Element, row: FundMovementRow, index: int) -> BatchItem:
        amount_element = None
        for path in ("Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt"):
            amount_element = detail.find(self._q(path))
            if amount_element is not None:
                break
        if amount_element is None:
            raise StatementParseError(Message(Code.CAMT_BATCH_ITEM_NO_AMOUNT), line=index, field="TxDtls/AmtDtls")
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
            return self._local_date(text)
        except ValueError:
            raise StatementParseError(Message(Code.CAMT_BAD_DATE, value=repr(text)), line=index, field=name) from None

    def _local_date(self, text: str) -> date:
        """The account's date of an ISO date or date-time: a UTC date-time is moved into ``tz`` (a bank
        that stamps in UTC still books on its local day); any other offset is the bank's local time."""
        if "T" not in text:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
        if moment.utcoffset() == timedelta(0):
            return moment.astimezone(self.tz).date()
        return moment.date()

    def _datetime(self, text: str, index: int, name: str) -> datetime | None:
        if not text:
            return None
        try:
            return as_aware(datetime.fromisoformat(text), self.tz)
        except ValueError:
            raise StatementParseError(Message(Code.CAMT_BAD_DATETIME, value=repr(text)), line=index, field=name) from None


def _compact(element: ET.Element) -> str:
    """The element as XML without namespaces or indentation (for display and raw_fields)."""
    return ET.tostring(_stripped(element), encoding="unicode")


def _stripped(element: ET.Element) -> ET.Element:
    copy = ET.Element(_local(element.tag), element.attrib)
    copy.text = (element.text or "").strip() or None
    copy.extend(_stripped(child) for child in element)
    return copy
