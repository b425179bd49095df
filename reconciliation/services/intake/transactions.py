"""Our transaction records: bulk upsert, idempotent on txn_no, from the API, the journal file or code.

Rules (the same for every path):
- a new txn_no is created; the same record sent again changes nothing;
- status only moves forward: PROCESSING/UNKNOWN -> SUCCESS/FAILED (PROCESSING <-> UNKNOWN allowed);
- the channel serial, fee, completion time and order number may be filled in once known, never changed;
- anything else that differs (amount, channel, a terminal status going back, …) is a conflict;
- the payment core's first record of an order a supplement (补单) created completes it, or, where it disagrees
  with the channel's line, is held for a clerk without refusing the rest.
A batch is all or nothing: one invalid record or one conflict and nothing of it is written. Conflicts
are recorded (TransactionConflict) even though the batch is refused.

How: every delivery is staged into PostgreSQL with COPY and the rules run there as set operations
(journal_sql.py); a file is streamed to the server as it is, its values checked and cast by SQL. Python only
reads a file's header row, and a file PostgreSQL's CSV reader cannot take (or whose errors need exact line
numbers) is read again by Python's csv module, row by row, into the same stage.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
from django.db import IntegrityError, connection, transaction

from reconciliation.models import (
    PlatformTransaction,
    ReconciliationRun,
    RunStage,
    RunTrigger,
    TransactionReceipt,
)
from reconciliation.services.intake import journal_sql as sql
from reconciliation.services.jobs import Job, enqueue
from reconciliation.services.partitions import ANALYZE_AFTER_ROWS, daily_rows_analyze

JOURNAL_COLUMNS, REQUIRED_COLUMNS, OPTIONAL_EXTRA = sql.JOURNAL_COLUMNS, sql.REQUIRED_COLUMNS, sql.OPTIONAL_EXTRA
logger = logging.getLogger(__name__)
# At most this many problems are listed in a refusal (all are counted).
ERRORS_SHOWN = 10_000
READ_BYTES = 1 << 20
# Serialises deliveries of our records (one at a time applies its plan).
_DELIVERY_LOCK = "reconciliation.transactions"
_ATTEMPTS = 3


@dataclass(frozen=True)
class RecordError:
    ref: str  # "line 12" or "item 3"
    field: str | None
    reason: str
    txn_no: str = ""

    def __str__(self) -> str:
        where = f"{self.ref}, field {self.field}" if self.field else self.ref
        return f"{where}: {self.reason}"

    def as_dict(self) -> dict:
        return {"ref": self.ref, "field": self.field, "reason": self.reason, "txn_no": self.txn_no}


class TransactionBatchRefused(Exception):
    """Nothing of the batch was written; ``errors`` says which record, which field and why (the first
    ERRORS_SHOWN of ``total``)."""

    def __init__(self, errors: Sequence[RecordError], *, conflicts: int = 0, total: int | None = None):
        self.errors = list(errors)
        self.conflicts = conflicts
        self.total = max(total or 0, len(self.errors))
        head = "; ".join(str(e) for e in self.errors[:5])
        more = f" (and {self.total - 5} more)" if self.total > 5 else ""
        super().__init__(f"{self.total} record(s) refused, nothing written: {head}{more}")


@dataclass
class TransactionInput:
    ref: str
    txn_no: str
    channel_code: str
    business_type: str
    amount: Decimal
    currency: str
    status: str
    created_at: datetime
    business_date: date
    channel_txn_no: str = ""
    fee: Decimal | None = None
    completed_at: datetime | None = None
    merchant_no: str = ""
    account_no: str = ""
    batch_no: str = ""
    original_txn_no: str = ""
    counterparty_account: str = ""
    counterparty_name: str = ""
    order_no: str = ""

    def values(self) -> list:
        """The record's values in the order of the journal's fields (for the stage)."""
        return [self.channel_code if name == "channel" else getattr(self, name) for name in sql.FIELDS]


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    held: int = 0
    receipt_id: int | None = None

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged, "held": self.held}


# --- feeding the stage ---------------------------------------------------------------------------


def _copy_text(value) -> str:
    """A value in COPY's text format (a NUL travels as the mark the checks refuse)."""
    if value is None:
        return r"\N"
    text = value if isinstance(value, str) else value.isoformat() if isinstance(value, date) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", sql.NUL_MARK)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_rows(cursor, rows: Iterable[tuple[int, Sequence]]) -> None:
    """(ref, values in sql.FIELDS order) into the stage."""
    statement = f"COPY {sql.STAGE} (ref, {', '.join(sql.FIELDS)}) FROM STDIN"
    with cursor.cursor.copy(statement) as copy:
        buffer: list[str] = []
        for ref, values in rows:
            buffer.append(f"{ref}\t" + "\t".join(map(_copy_text, values)) + "\n")
            if len(buffer) >= 10_000:
                copy.write("".join(buffer))
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))


class _Feed(ABC):
    """What fills the stage for one delivery. ``kind`` names a record's place ("line" or "item"); ``exact`` is
    False when the stage's ref may not be a record's true line (the caller then reads the file again)."""

    kind = "item"
    exact = True
    nul = True  # a value may hold a NUL (files say whether one did)

    @abstractmethod
    def stage(self, cursor) -> list[RecordError]:
        """Fill the stage; return the records refused before it (unreadable, wrong types)."""


_MONEY = {"amount", "fee"}


def _item_values(mapping: Mapping, ref: str) -> tuple[list | None, list[RecordError]]:
    """One API item (or a record handed in by code): each field text, a number or a date, or absent."""
    if not isinstance(mapping, Mapping):
        return None, [RecordError(ref, None, "is not an object")]
    txn_no = mapping.get("txn_no") if isinstance(mapping.get("txn_no"), str) else ""
    errors = [RecordError(ref, str(name), "unknown field", txn_no) for name in mapping if name not in sql.FIELDS]
    values = []
    for name in sql.FIELDS:
        value = mapping.get(name)
        if isinstance(value, float) and name in _MONEY:
            # JSON numbers are parsed as Decimal by our API parser; a float here would lose cents.
            errors.append(RecordError(ref, name, "must be a decimal string, not a binary float", txn_no))
        elif value is not None and (isinstance(value, bool) or not isinstance(value, str | int | Decimal | date)):
            errors.append(RecordError(ref, name, "must be text", txn_no))
        values.append(value)
    return (None if errors else values), errors


class _ItemFeed(_Feed):
    def __init__(self, records: Sequence[Mapping]):
        self.records = records

    def stage(self, cursor) -> list[RecordError]:
        cursor.execute(sql.stage_sql(numbered=False))
        invalid: list[RecordError] = []

        def rows() -> Iterator[tuple[int, list]]:
            for index, mapping in enumerate(self.records, 1):
                values, errors = _item_values(mapping, f"item {index}")
                invalid.extend(errors)
                if values is not None:
                    yield index, values

        _copy_rows(cursor, rows())
        return invalid


class _InputFeed(_Feed):
    def __init__(self, inputs: Sequence[TransactionInput]):
        self.inputs = inputs

    def stage(self, cursor) -> list[RecordError]:
        cursor.execute(sql.stage_sql(numbered=False))
        _copy_rows(cursor, ((n, i.values()) for n, i in enumerate(self.inputs, 1)))
        return []


def _header(raw: bytes) -> list[str]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TransactionBatchRefused([RecordError("line 1", None, "the file is not UTF-8 text")]) from None
    header = [h.strip() for h in next(csv.reader([text]), [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise TransactionBatchRefused([RecordError("line 1", c, "column missing from the header row") for c in missing])
    twice = sorted({h for h in header if h in sql.FIELDS and header.count(h) > 1})
    if twice:
        raise TransactionBatchRefused([RecordError("line 1", c, "column appears twice in the header row") for c in twice])
    return header


class _CopyRefused(Exception):
    """PostgreSQL's CSV reader did not take the file (a stray quote, a blank line, a short row …)."""


class _FileFeed(_Feed):
    """The journal file streamed to PostgreSQL's own CSV reader as it is: the first record is on line 2 and
    the stage numbers rows as they come, which is each record's line unless a quoted value spans lines (then
    ``exact`` is False). A BOM is dropped, a NUL sent as the mark, blank lines at the end left out."""

    kind = "line"

    def __init__(self, path: Path):
        self.path = path

    def stage(self, cursor) -> list[RecordError]:
        with self.path.open("rb") as file:
            first = file.readline()
            header = _header(first)
            names = [h if h in sql.FIELDS else f"x{n}" for n, h in enumerate(header)]
            # A column we do not read is staged as x<position> (and ignored).
            cursor.execute(sql.stage_sql(extra_columns=len(header), numbered=True))
            statement = f"COPY {sql.STAGE} ({', '.join(names)}) FROM STDIN (FORMAT csv, ENCODING 'UTF8')"
            newlines, held, self.nul = 0, b"", False
            try:
                with cursor.cursor.copy(statement) as copy:
                    while chunk := file.read(READ_BYTES):
                        if b"\x00" in chunk:
                            chunk, self.nul = chunk.replace(b"\x00", sql.NUL_MARK.encode()), True
                        body = chunk.rstrip(b"\r\n")
                        if not body:
                            held += chunk
                            continue
                        data = held + body
                        held = chunk[len(body) :]
                        newlines += data.count(b"\n")
                        copy.write(data)
                rows = cursor.cursor.rowcount
            except psycopg.Error as exc:
                raise _CopyRefused(str(exc)) from exc
        self.exact = newlines == rows  # the header's newline, then one per record but the last
        return []


class _CarefulFileFeed(_Feed):
    """The journal read by Python's csv module, each record staged with its true line: for what PostgreSQL's
    reader refuses, and for exact line numbers when a quoted value spans lines."""

    kind = "line"

    def __init__(self, path: Path):
        self.path = path

    def stage(self, cursor) -> list[RecordError]:
        cursor.execute(sql.stage_sql(numbered=False))
        invalid: list[RecordError] = []
        with self.path.open("rb") as raw:
            header = _header(raw.readline())
            raw.seek(0)
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            reader = csv.reader(text)
            positions = [header.index(name) if name in header else None for name in sql.FIELDS]

            def rows() -> Iterator[tuple[int, list]]:
                next(reader)  # the header
                for row in reader:
                    if not row:
                        continue  # a blank line
                    line = reader.line_num
                    if len(row) > len(header):
                        invalid.append(RecordError(f"line {line}", None, f"{len(row)} values for {len(header)} columns"))
                        continue
                    yield line, [row[p] if p is not None and p < len(row) else None for p in positions]

            try:
                _copy_rows(cursor, rows())
            except UnicodeDecodeError:
                line = _undecodable_line(self.path)
                raise TransactionBatchRefused([RecordError(f"line {line}", None, "the file is not UTF-8 text")]) from None
            except csv.Error as exc:
                raise TransactionBatchRefused([RecordError(f"line {reader.line_num}", None, f"not CSV: {exc}")]) from None
        return invalid


def _undecodable_line(path: Path) -> int:
    with path.open("rb") as file:
        for number, line in enumerate(file, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


# --- applying a delivery -------------------------------------------------------------------------


class _Changed(Exception):
    """A record changed between the plan and its update (someone else moved it): start again."""


class _Inexact(Exception):
    """Refused, but the stage's refs are not the file's lines: read the file again, carefully."""


def _deliver(*, feed: Callable[[], _Feed], source: str, source_ref: str, acting_user, now: datetime) -> UpsertResult:
    for _attempt in range(_ATTEMPTS):
        try:
            return _deliver_once(feed=feed(), source=source, source_ref=source_ref, acting_user=acting_user, now=now)
        except _Changed:
            continue
    raise TransactionBatchRefused([RecordError("", None, "records kept changing while this delivery was applied; send it again")])


def _run(cursor, statement: str, params=None) -> int:
    """Execute one step, its time in the debug log (where a slow delivery spends its time)."""
    started = time.perf_counter()
    cursor.execute(statement, params)
    logger.debug(
        "journal step %.3f s, %s rows: %s", time.perf_counter() - started, cursor.rowcount, " ".join(statement.split())[:80]
    )
    return cursor.rowcount


def _fetch(cursor, statement: str, params=None) -> list[tuple]:
    _run(cursor, statement, params)
    return cursor.fetchall()


def _errors(rows: Iterable[tuple], kind: str) -> list[RecordError]:
    return [RecordError(f"{kind} {ref}", name or None, reason, txn_no or "") for ref, name, reason, txn_no in rows]


def _deliver_once(*, feed: _Feed, source: str, source_ref: str, acting_user, now: datetime) -> UpsertResult:
    refusal = None
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_DELIVERY_LOCK])
        # Hash joins and aggregates of a day in memory; no JIT (compiling these statements costs more than it saves).
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL jit = off")
        for table in sql.TEMP_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [PlatformTransaction._meta.db_table])
        ((ids,),) = cursor.fetchall()
        started = time.perf_counter()
        invalid = feed.stage(cursor)
        logger.debug("journal staged in %.3f s", time.perf_counter() - started)
        for step in (
            *sql.dictionaries_sql(),
            sql.in_sql(nul=feed.nul),
            f"ANALYZE {sql.IN}",
            sql.plan_sql(ids=ids),
            f"ANALYZE {sql.PLAN}",
        ):
            _run(cursor, step)
        _run(cursor, sql.ORIGINALS_IN_BATCH_SQL)
        if _run(cursor, sql.REPEATED_SQL):
            _run(cursor, sql.repeated_mark_sql())
        _run(cursor, sql.plan_problems_sql(kind=feed.kind))
        _run(cursor, sql.conflicts_sql())
        ((total, conflicts),) = _fetch(cursor, sql.ERROR_COUNT_SQL)
        params = {"source": source, "source_ref": source_ref, "kind": feed.kind, "now": now,
                  "user_id": getattr(acting_user, "pk", None)}  # fmt: skip
        if total or invalid:
            if not feed.exact:
                raise _Inexact
            errors = _errors(_fetch(cursor, sql.errors_sql(limit=ERRORS_SHOWN)), feed.kind)
            errors = sorted([*invalid, *errors], key=lambda e: _ref_order(e.ref))[:ERRORS_SHOWN]
            cursor.execute(sql.record_conflicts_sql(), params)  # on record even though nothing else is written
            refusal = TransactionBatchRefused(errors, conflicts=conflicts, total=total + len(invalid))
        else:
            result = _apply(cursor, params=params, kind=feed.kind, acting_user=acting_user)
    if refusal is not None:
        raise refusal
    return result


def _apply(cursor, *, params: dict, kind: str, acting_user) -> UpsertResult:
    ((created, completed, held, updated, unchanged),) = _fetch(cursor, sql.COUNTS_SQL)
    receipt = TransactionReceipt.objects.create(
        source=params["source"],
        source_ref=params["source_ref"][:255],
        received_at=params["now"],
        received_by=acting_user,
        created=created,
        updated=updated + completed,
        unchanged=unchanged,
        held=held,
    )
    params = {**params, "receipt_id": receipt.pk}
    try:
        with transaction.atomic():
            inserted = _run(cursor, sql.insert_sql(), params)
            moved = _run(cursor, sql.update_sql(), params)
            moved += _run(cursor, sql.complete_sql(), params)
            if inserted >= ANALYZE_AFTER_ROWS:
                daily_rows_analyze(PlatformTransaction)
    except IntegrityError as exc:
        errors = _errors(_fetch(cursor, sql.SERIAL_CLASH_SQL), kind)
        if not errors:
            raise _Changed from exc  # another delivery or a supplement created one of these txn_nos meanwhile
        raise TransactionBatchRefused(errors) from None
    if moved != updated + completed:
        raise _Changed
    cursor.execute(sql.record_conflicts_sql(), params)  # the held ones
    _reconcile_changed_days(_fetch(cursor, sql.CHANGED_DAYS_SQL))
    return UpsertResult(created=created, updated=updated + completed, unchanged=unchanged, held=held, receipt_id=receipt.pk)


def _ref_order(ref: str) -> tuple[str, int]:
    kind, _, number = ref.partition(" ")
    return kind, int(number) if number.isdigit() else 0


# --- the entry points ----------------------------------------------------------------------------


def transactions_import_file(*, path: Path, source: str, source_ref: str = "", acting_user=None, now: datetime) -> UpsertResult:
    """The payment core's journal file: UTF-8 CSV with a header row, columns matched by name (others ignored).
    Streamed; all or nothing; a refusal names each line and field."""
    deliver = {"source": source, "source_ref": source_ref, "acting_user": acting_user, "now": now}
    try:
        return _deliver(feed=lambda: _FileFeed(path), **deliver)
    except (_CopyRefused, _Inexact):
        return _deliver(feed=lambda: _CarefulFileFeed(path), **deliver)


def transactions_receive(
    *, records: Sequence[Mapping], source: str, source_ref: str = "", acting_user=None, now: datetime
) -> UpsertResult:
    """Records as the API takes them (``item N`` in errors): each a mapping of the journal's fields to text,
    numbers or dates. An unknown field, a binary float amount or a value of another type is refused."""
    return _deliver(feed=lambda: _ItemFeed(records), source=source, source_ref=source_ref, acting_user=acting_user, now=now)


def transactions_upsert(
    *, inputs: Sequence[TransactionInput], source: str, source_ref: str = "", acting_user=None, now: datetime
) -> UpsertResult:
    """Records handed in by code, under the same rules (``item N`` in errors, N counting from 1)."""
    return _deliver(feed=lambda: _InputFeed(inputs), source=source, source_ref=source_ref, acting_user=acting_user, now=now)


def _reconcile_changed_days(changed: Iterable[tuple[int, date]]) -> None:
    """Late records of a date already reconciled: that date runs again once they commit, so its discrepancies
    and its books follow (a date not yet run waits for its own run)."""
    days = set(changed)
    if not days:
        return
    done = set(
        ReconciliationRun.objects.filter(
            stage=RunStage.TRANSACTION,
            status=ReconciliationRun.Status.SUCCEEDED,
            channel_id__in={c for c, _d in days},
            business_date__in={d for _c, d in days},
            channel__is_active=True,
        ).values_list("channel_id", "business_date")
    )
    for channel_id, day in sorted(days & done):
        enqueue(Job.RUN_START, channel_id=channel_id, trigger=RunTrigger.RECORDS, business_date=day.isoformat())
