"""Spreadsheet exports: the discrepancy queue, the workflow audit trail and the runs report, as CSV
(streamed) or XLSX (openpyxl write-only).

Both formats are safe to open: every text cell goes through ``neutralise_cell`` (formula injection),
amounts stay numbers (Decimal on the currency's minor unit: a numeric cell in XLSX, a plain decimal
in CSV), and personal data is masked for users without the permission. Rows are read from the
database in chunks, so memory stays flat however long the export.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import islice

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from backoffice.core.masking import personal_value
from backoffice.core.money import to_minor_unit
from backoffice.core.spreadsheets import neutralise_cell
from reconciliation.models import MATCHED_OUTCOMES, Discrepancy, ReconciliationRun, WorkflowEvent
from reconciliation.selectors.runs import run_stories

Cell = str | int | Decimal | date | datetime | None
CHUNK_ROWS = 2000
# CSV lines are sent in pieces of about this size rather than one write per row.
CSV_PIECE_CHARS = 64 * 1024
# An XLSX file is built in memory up to this size, then on disk.
XLSX_MEMORY_BYTES = 16 * 1024 * 1024
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Table:
    """An export: a sheet title, the column headers and the rows (an iterator, read once)."""

    title: str
    headers: list[str]
    rows: Iterable[list[Cell]]


def money(amount: Decimal | None, currency: str) -> Decimal | None:
    """An amount on its currency's minor unit, so both formats show 12.30 rather than 12.3000."""
    return None if amount is None else to_minor_unit(amount, currency)


def local_naive(moment: datetime | None) -> datetime | None:
    # Spreadsheets have no time zones: times are written as the product's local time (Asia/Shanghai).
    return timezone.localtime(moment).replace(tzinfo=None) if moment else None


def labels_of(choices: type[models.TextChoices]) -> dict[str, str]:
    """Value -> label in the active language, translated once per export rather than once per cell
    (``get_FOO_display`` translates every choice again on each call)."""
    return {value: str(label) for value, label in choices.choices}


def compact_json(value: dict | list) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True, separators=(",", ":")) if value else ""


# --- The discrepancy queue ---------------------------------------------------------------------


def discrepancy_table(discrepancies: QuerySet[Discrepancy], *, user, today: date) -> Table:
    """The queue as filtered and sorted on screen, one row per discrepancy."""
    headers = [
        _("ID"),
        _("Business date"),
        _("Channel"),
        _("Type"),
        _("State"),
        _("Match key"),
        _("Our transaction"),
        _("Channel serial"),
        _("Batch number"),
        _("Our amount"),
        _("Channel's amount"),
        _("Effect"),
        _("Currency"),
        _("Overage/shortage"),
        _("Age (days)"),
        _("Assigned to"),
        _("Closed as"),
        _("Counterparty account"),
    ]
    # Only the exported columns: instantiating every field of five joined models would cost more than
    # the query itself on a long export.
    found = (
        discrepancies.select_related(None)
        .select_related("channel", "platform_txn", "statement_line", "assigned_to")
        .only(
            "id",
            "business_date",
            "type",
            "state",
            "match_key",
            "batch_no",
            "platform_amount",
            "bank_amount",
            "effect",
            "currency",
            "direction",
            "closed_as",
            "channel__code",
            "platform_txn__txn_no",
            "platform_txn__counterparty_account",
            "statement_line__channel_txn_no",
            "assigned_to__username",
        )
    )
    labels = {
        "type": labels_of(Discrepancy.Type),
        "state": labels_of(Discrepancy.State),
        "direction": labels_of(Discrepancy.Direction),
        "closed_as": labels_of(Discrepancy.ClosedAs),
    }
    rows = (_discrepancy_row(d, today=today, user=user, labels=labels) for d in found.iterator(chunk_size=CHUNK_ROWS))
    return Table(title=_("Discrepancies"), headers=headers, rows=rows)


def _discrepancy_row(d: Discrepancy, *, today: date, user, labels: dict[str, dict[str, str]]) -> list[Cell]:
    txn, line = d.platform_txn, d.statement_line
    return [
        d.pk,
        d.business_date,
        d.channel.code,
        labels["type"][d.type],
        labels["state"][d.state],
        d.match_key,
        txn.txn_no if txn else "",
        line.channel_txn_no if line else "",
        d.batch_no,
        money(d.platform_amount, d.currency),
        money(d.bank_amount, d.currency),
        money(d.effect, d.currency),
        d.currency,
        labels["direction"].get(d.direction, d.direction),
        (today - d.business_date).days,
        d.assigned_to.get_username() if d.assigned_to else "",
        labels["closed_as"].get(d.closed_as, d.closed_as),
        personal_value(user, txn, "counterparty_account") if txn else "",
    ]


# --- The audit trail of the workflow -----------------------------------------------------------


def audit_table(events: QuerySet[WorkflowEvent]) -> Table:
    headers = [
        _("Time"),
        _("Discrepancy"),
        _("Resolution"),
        _("Step"),
        _("Done by"),
        _("Source"),
        _("Reason or comment"),
        _("Before"),
        _("After"),
    ]
    kinds = labels_of(WorkflowEvent.Kind)
    rows = (
        [
            local_naive(e.at),
            e.discrepancy_id,
            e.resolution_id,
            kinds.get(e.kind, e.kind),
            e.actor.get_username() if e.actor else "",
            e.source,
            e.reason,
            compact_json(e.before),
            compact_json(e.after),
        ]
        for e in events.iterator(chunk_size=CHUNK_ROWS)
    )
    return Table(title=_("Audit trail"), headers=headers, rows=rows)


# --- The runs report ---------------------------------------------------------------------------


def run_table(runs: QuerySet[ReconciliationRun]) -> Table:
    headers = [
        _("Run"),
        _("Channel"),
        _("Business date"),
        _("Status"),
        _("Trigger"),
        _("Staff user"),
        _("Matched"),
        _("Discrepancies"),
        _("Overage"),
        _("Shortage"),
        _("Currency"),
        _("Finished"),
        # The run's story, as on the screens (reconciliation.selectors.runs.run_stories).
        capfirst(_("found")),
        capfirst(_("closed")),
        capfirst(_("still live")),
    ]
    labels = {"status": labels_of(ReconciliationRun.Status), "trigger": labels_of(ReconciliationRun.Trigger)}
    return Table(title=_("Reconciliation runs"), headers=headers, rows=_run_rows(runs, labels=labels))


def _run_rows(runs: QuerySet[ReconciliationRun], *, labels: dict[str, dict[str, str]]) -> Iterator[list[Cell]]:
    found = runs.iterator(chunk_size=CHUNK_ROWS)
    while chunk := list(islice(found, CHUNK_ROWS)):
        stories = run_stories(run_ids=[run.pk for run in chunk])  # one query per chunk
        for run in chunk:
            story = stories[run.pk]
            yield [*_run_row(run, labels=labels), story.found, story.closed, story.live]


def _run_row(run: ReconciliationRun, *, labels: dict[str, dict[str, str]]) -> list[Cell]:
    outcomes = run.counts.get("outcomes", {})
    currency = run.channel.currency
    # Matched and discrepancies add up to every outcome of the run (cross-day and both-failed count as matched).
    matched = sum(v["count"] for k, v in outcomes.items() if k in MATCHED_OUTCOMES)
    found = sum(v["count"] for k, v in outcomes.items() if k not in MATCHED_OUTCOMES)
    totals = [money(Decimal(run.counts[key]), currency) if key in run.counts else None for key in ("overage", "shortage")]
    return [
        run.pk,
        run.channel.code,
        run.business_date,
        labels["status"][run.status],
        labels["trigger"][run.trigger],
        run.started_by.get_username() if run.started_by else "",
        matched if outcomes else None,
        found if outcomes else None,
        *totals,
        currency,
        local_naive(run.finished_at),
    ]


def clearing_table(result) -> Table:
    """清分 as one sheet: the settlement batches, the merchants, the total."""
    c = result.currency
    headers = [
        _("Section"),
        _("Batch or merchant"),
        _("Settles on"),
        _("Items"),
        _("Gross"),
        _("Fee"),
        _("Fee billed apart"),
        _("Net"),
        _("Currency"),
    ]

    def row(section: str, name, settles_on, f) -> list[Cell]:
        return [section, name, settles_on, f.count, money(f.gross, c), money(f.fee, c), money(f.fee_apart, c), money(f.net, c), c]

    rows = [row(_("Settlement batch"), b.batch, b.settles_on, b.figures) for b in result.batches]
    rows += [row(_("Merchant"), m.merchant_no or _("(no merchant)"), None, m.figures) for m in result.merchants]
    rows.append(row(_("Total"), result.channel.code, None, result.totals))
    return Table(
        title=_("Clearing %(channel)s %(date)s") % {"channel": result.channel.code, "date": result.business_date},
        headers=headers,
        rows=iter(rows),
    )


def bank_journal_table(journal) -> Table:
    """银行日记账 as one sheet: per date its opening, each entry with the running balance, its closing and the
    bank's closing balance."""
    c = journal.account.currency
    headers = [_("Business date"), _("Voucher"), _("Kind"), _("Memo"), _("Debit"), _("Credit"), _("Balance"), _("Currency")]

    def rows():
        yield [journal.first, None, None, _("Opening balance"), None, None, money(journal.opening, c), c]
        for d in journal.days:
            for line in d.lines:
                v = line.entry.voucher
                memo = line.entry.memo or v.memo
                yield [d.day, v.number, v.get_kind_display(), memo, money(line.entry.debit, c), money(line.entry.credit, c),
                       money(line.balance, c), c]  # fmt: skip
            if d.statement_closing is not None:
                yield [d.day, None, None, _("Bank statement closing balance"), None, None, money(d.statement_closing, c), c]
        yield [journal.last, None, None, _("Closing balance"), money(journal.debit, c), money(journal.credit, c),
               money(journal.closing, c), c]  # fmt: skip

    title = _("Bank journal %(account)s %(first)s to %(last)s") % {
        "account": journal.account.account_no, "first": journal.first, "last": journal.last,
    }  # fmt: skip
    return Table(title=title, headers=headers, rows=rows())


# --- Writers -----------------------------------------------------------------------------------


def export_response(table: Table, *, fmt: str, stem: str) -> StreamingHttpResponse | FileResponse:
    """The table as a download named ``<stem>.<fmt>``."""
    if fmt == "csv":
        return csv_response(table, filename=f"{stem}.csv")
    if fmt == "xlsx":
        return xlsx_response(table, filename=f"{stem}.xlsx")
    raise ValueError(f"unknown export format {fmt!r}")


class _Echo:
    """A file-like object whose write() hands the CSV line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _csv_cell(value: Cell) -> Cell:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    # Numbers stay as written (a Decimal prints as a plain decimal); only text can start a formula.
    return neutralise_cell(value)


def _csv_pieces(table: Table) -> Iterator[bytes]:
    writer = csv.writer(_Echo())
    # The byte-order mark tells Excel the file is UTF-8, so Chinese text opens readable.
    piece = ["\ufeff", writer.writerow([_csv_cell(str(h)) for h in table.headers])]
    size = 0
    for row in table.rows:
        line = writer.writerow([_csv_cell(value) for value in row])
        piece.append(line)
        size += len(line)
        if size >= CSV_PIECE_CHARS:
            yield "".join(piece).encode("utf-8")
            piece, size = [], 0
    yield "".join(piece).encode("utf-8")


def csv_response(table: Table, *, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_csv_pieces(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def _number_format(amount: Decimal) -> str:
    places = max(-amount.as_tuple().exponent, 0)
    return "#,##0." + "0" * places if places else "#,##0"


def _formatted(sheet, value: Cell, number_format: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = number_format
    return cell


def _xlsx_cell(sheet, value: Cell):
    if isinstance(value, Decimal):
        return _formatted(sheet, value, _number_format(value))
    if isinstance(value, datetime):  # before date: every datetime is a date too
        return _formatted(sheet, value, "yyyy-mm-dd hh:mm:ss")
    if isinstance(value, date):
        return _formatted(sheet, value, "yyyy-mm-dd")
    if value == "":
        return None  # an empty cell is not written at all
    if isinstance(value, str):
        # Control characters are not allowed in XLSX XML (openpyxl refuses them); a reason typed with one
        # must not make the whole export fail.
        return neutralise_cell(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


def xlsx_response(table: Table, *, filename: str) -> FileResponse:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=str(table.title)[:31])
    sheet.freeze_panes = "A2"
    sheet.append([_xlsx_cell(sheet, str(h)) for h in table.headers])
    for row in table.rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    buffer = tempfile.SpooledTemporaryFile(max_size=XLSX_MEMORY_BYTES)
    workbook.save(buffer)
    buffer.seek(0)
    return FileResponse(buffer, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE)
