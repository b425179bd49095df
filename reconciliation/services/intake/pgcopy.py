"""Writing parsed statement rows into PostgreSQL with COPY, fast.

Rows are encoded into COPY's text format in Python and streamed to the server in chunks, so the
server parses and indexes one chunk on its core while Python parses the next on the other.

Per row, the encoder formats one f-string without escaping, then checks the whole line once: the
right number of tabs and no backslash, newline or carriage return. Only a line that fails the check
(rare: a value holding a tab, a backslash…) is encoded again field by field with escaping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

import psycopg
from django.db import connection
from psycopg.copy import QueuedLibpqWriter

from reconciliation import parsers

FLUSH_ROWS = 20000
PROGRESS_EVERY = 4096

LINE_COLUMNS = (
    "file_id",
    "channel_id",
    "statement_date",
    "line_no",
    "channel_txn_no",
    "txn_no",
    "line_type",
    "type_code",
    "status",
    "amount",
    "fee",
    "currency",
    "occurred_at",
    "completed_at",
    "refund_no",
    "original_channel_txn_no",
    "original_txn_no",
    "batch_ref",
    "raw",
)
MOVEMENT_COLUMNS = (
    "file_id",
    "channel_id",
    "bank_account_id",
    "statement_date",
    "line_no",
    "account_ref",
    "booking_date",
    "booked_at",
    "value_date",
    "direction",
    "amount",
    "balance_after",
    "currency",
    "counterparty_name",
    "counterparty_account",
    "memo",
    "bank_ref",
    "batch_ref",
    "business_ref",
    "is_reversal",
    "items",
    "raw",
)
_COPY_CONTEXT = re.compile(r"COPY \S+, line (\d+)(?:, column (\w+))?")


def _escape(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = value if isinstance(value, str) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class _Timestamps:
    """Text of aware datetimes, cached by object identity: parsers hand out the same datetime object for
    a repeated timestamp, and both str(datetime) and comparing aware datetimes are dear per row. The
    cache keeps the object itself, so its id cannot be reused while cached."""

    def __init__(self) -> None:
        self.cache: dict[int, tuple[datetime, str]] = {}

    def __call__(self, value: datetime | None) -> str:
        if value is None:
            return r"\N"
        entry = self.cache.get(id(value))
        if entry is not None and entry[0] is value:
            return entry[1]
        if len(self.cache) > 200_000:
            self.cache.clear()
        text = str(value)
        self.cache[id(value)] = (value, text)
        return text


class LineEncoder:
    """Encodes a statement's rows as COPY text. A line's business date (its ``statement_date`` column) is
    the one the statement gives it, else the one its time falls on under the channel's cutoff (``day_of``,
    None when the statement's date decides), else the statement's date. ``first``/``last`` are the
    earliest and latest dates written."""

    def __init__(self, file_id: int, channel_id: int, statement_date, day_of: Callable[[datetime], object] | None = None):
        self.file_id, self.channel_id, self.statement_date, self.day_of = file_id, channel_id, statement_date, day_of
        self.first = self.last = None
        self.prefixes: dict = {}
        self.tabs = len(LINE_COLUMNS) - 1
        self.ts = _Timestamps()

    def careful(self, r, day) -> str:
        values = (
            self.file_id,
            self.channel_id,
            day,
            r.source_line,
            r.channel_txn_no,
            r.txn_no,
            str(r.line_type),
            r.type_code,
            str(r.status),
            r.amount,
            r.fee,
            r.currency,
            r.occurred_at,
            r.completed_at,
            r.refund_no,
            r.original_channel_txn_no,
            r.original_txn_no,
            r.batch_ref,
            r.raw,
        )
        return "\t".join(map(_escape, values))

    def __call__(self, r) -> str:
        day = r.business_date
        if day is None:
            day = self.statement_date if self.day_of is None or r.occurred_at is None else self.day_of(r.occurred_at)
        prefix = self.prefixes.get(day)
        if prefix is None:
            prefix = self.prefixes[day] = f"{self.file_id}\t{self.channel_id}\t{day}\t"
            self.first = day if self.first is None else min(self.first, day)
            self.last = day if self.last is None else max(self.last, day)
        ts = self.ts
        occurred, completed = r.occurred_at, r.completed_at
        occurred_text = ts(occurred)
        # A line completed when it occurred carries the one datetime object twice (the parsers' cache).
        completed_text = occurred_text if completed is occurred else ts(completed)
        line = (
            f"{prefix}{r.source_line}\t{r.channel_txn_no}\t{r.txn_no}\t{r.line_type}\t{r.type_code}\t{r.status}\t"
            f"{r.amount}\t{r.fee}\t{r.currency}\t{occurred_text}\t{completed_text}\t{r.refund_no}\t"
            f"{r.original_channel_txn_no}\t{r.original_txn_no}\t{r.batch_ref}\t{r.raw}"
        )
        if line.count("\t") != self.tabs or "\\" in line or "\n" in line or "\r" in line:
            return self.careful(r, day)
        return line


def line_encoder(file_id: int, channel_id: int, statement_date, day_of=None) -> LineEncoder:
    return LineEncoder(file_id, channel_id, statement_date, day_of)


def movement_encoder(
    file_id: int, channel_id: int, statement_date, accounts: dict[str, int], default_account: int | None
) -> Callable[[parsers.FundMovementRow], str]:
    """Fund statements are small (thousands of lines): one careful encoding per row is fast enough."""

    def encode(r) -> str:
        items = json.dumps(
            [
                {
                    "amount": str(i.amount),
                    "currency": i.currency,
                    "reference": i.reference,
                    "bank_ref": i.bank_ref,
                    "counterparty_name": i.counterparty_name,
                    "counterparty_account": i.counterparty_account,
                    "memo": i.memo,
                }
                for i in r.items
            ],
            ensure_ascii=False,
        )
        values = (
            file_id,
            channel_id,
            accounts.get(r.account_ref, default_account),
            statement_date,
            r.source_line,
            r.account_ref,
            r.booking_date,
            r.booked_at,
            r.value_date,
            str(r.direction),
            r.amount,
            r.balance_after,
            r.currency,
            r.counterparty_name,
            r.counterparty_account,
            r.memo,
            r.bank_ref,
            r.batch_ref,
            r.business_ref,
            r.is_reversal,
            items,
            r.raw,
        )
        return "\t".join(map(_escape, values))

    return encode


class CopyRowError(Exception):
    """PostgreSQL refused the n-th row (1-based) of a COPY; ``column`` names the field when it can."""

    def __init__(self, row_index: int, column: str | None, reason: str):
        self.row_index, self.column, self.reason = row_index, column, reason
        super().__init__(reason)


def copy_rows(table: str, columns: tuple[str, ...], lines: Iterable[str], on_progress: Callable[[int], None]) -> int:
    """COPY the encoded ``lines`` into ``table`` on Django's connection (inside the caller's transaction).

    A line that cannot be made (the parser refuses the file halfway) ends the COPY normally and is raised
    once it has ended: the caller's transaction takes the rows back. Raised inside the COPY, it would go to
    the server as a CopyFail, and psycopg closes the connection when the server had also refused a row
    already sent (two errors for one COPY), leaving nothing to record the refusal with."""
    sql = f'COPY "{table}" ({", ".join(columns)}) FROM STDIN'
    written = 0
    stopped: list[Exception] = []

    def until_refused(source: Iterable[str]) -> Iterator[str]:
        iterator = iter(source)
        while True:
            try:
                yield next(iterator)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 (raised again below, once the COPY has ended)
                stopped.append(exc)
                return

    lines = until_refused(lines)
    try:
        with connection.cursor() as cursor:
            raw_cursor = cursor.cursor  # psycopg 3's cursor under Django's wrapper
            # A background thread sends the data, so Python keeps encoding while the socket drains.
            writer = QueuedLibpqWriter(raw_cursor)
            with raw_cursor.copy(sql, writer=writer) as copy:
                buffer: list[str] = []
                for line in lines:
                    buffer.append(line)
                    written += 1
                    if written % PROGRESS_EVERY == 0:
                        on_progress(written)
                    if len(buffer) >= FLUSH_ROWS:
                        buffer.append("")
                        copy.write("\n".join(buffer))
                        buffer.clear()
                if buffer:
                    buffer.append("")
                    copy.write("\n".join(buffer))
    except psycopg.DataError as exc:
        # e.g. 'value too long for type character varying(64)', with the COPY line and column in the context.
        found = _COPY_CONTEXT.search(exc.diag.context or "")
        if not found:
            raise
        raise CopyRowError(int(found[1]), found[2], exc.diag.message_primary or str(exc)) from exc
    except psycopg.errors.CheckViolation as exc:
        # A value outside its column's allowed set (a currency we do not settle in): the constraint is
        # named <model>_<column>_supported, see backoffice.core.money.CurrencyField.
        found = _COPY_CONTEXT.search(exc.diag.context or "")
        constraint = exc.diag.constraint_name or ""
        column = constraint.split("_", 1)[1].removesuffix("_supported") if constraint.endswith("_supported") else None
        if not found:
            raise
        raise CopyRowError(int(found[1]), column, "a value we do not support") from exc
    if stopped:
        raise stopped[0]
    return written


def nth(rows: Iterator, index: int):
    """The ``index``-th row (1-based) of a fresh parse: used only to locate a refused row."""
    for count, row in enumerate(rows, 1):
        if count == index:
            return row
    return None
