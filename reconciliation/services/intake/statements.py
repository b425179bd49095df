"""Statement intake: every path (upload, API, command, scheduled fetch) goes through these two calls.

``statement_receive`` checks and stores the raw file (size, duplicate content, format and kind, date,
and that the channel takes files of that format) and records a StatementFile; ``statement_parse`` reads
it with the channel's parser and writes its rows with PostgreSQL COPY inside one transaction, so a bad
file leaves nothing of itself behind. A bank statement (MT940, camt.053) must also be of one of the
channel's bank accounts, in that account's currency: checked as it is parsed, refused as a whole.
"""

from __future__ import annotations

import hashlib
import inspect
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import BinaryIO
from zoneinfo import ZoneInfo

import psycopg
from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from backoffice.core.db import independent_connection
from reconciliation import parsers
from reconciliation.models import (
    BankAccount,
    Channel,
    FormatCode,
    FundMovement,
    ReconciliationRun,
    RunTrigger,
    StatementFile,
    StatementFormat,
    StatementKind,
    StatementLine,
)
from reconciliation.models.statements import BANK_STATEMENT_FORMATS, CHANNEL_KIND_FORMATS
from reconciliation.parsers import Message
from reconciliation.services.intake import pgcopy as statement_copy
from reconciliation.services.intake.corrections import replacement_takes_effect
from reconciliation.services.intake.messages import IntakeCode, located, message_text, problem_json, problem_text
from reconciliation.services.intake.progress import ProgressReporter
from reconciliation.services.jobs import Job, enqueue
from reconciliation.services.partitions import ANALYZE_AFTER_ROWS, daily_rows_analyze, partitions_ensure

HASH_CHUNK = 1 << 20
# Parsers' advisory-lock namespace (first key of pg_try_advisory_xact_lock(int, int)).
PARSE_LOCK_NAMESPACE = 7301


class StatementRefused(Exception):
    """A file that cannot be taken in. ``reason`` is in the active language; ``line``/``field`` locate the
    problem when it is inside the file. ``problem`` is the code and parameters of a problem found reading the
    file (``{"code", "params"}``, see ``messages.py``), None for the intake's own refusals of a file it does
    not store (empty, too big, a duplicate, a format the channel does not take…)."""

    def __init__(
        self,
        reason: str,
        *,
        file_name: str = "",
        line: int | None = None,
        field: str | None = None,
        statement_file: StatementFile | None = None,
        duplicate_of: StatementFile | None = None,
        problem: dict | None = None,
    ):
        self.reason, self.file_name, self.line, self.field = reason, file_name, line or None, field or None
        self.statement_file, self.duplicate_of, self.problem = statement_file, duplicate_of, problem
        super().__init__(reason)

    @classmethod
    def of_parse_error(cls, exc: parsers.StatementParseError, *, file_name: str) -> StatementRefused:
        """A parser's refusal, in the active language."""
        return cls(message_text(exc.problem), file_name=file_name, line=exc.line, field=exc.field, problem=exc.problem.as_json())

    def __str__(self) -> str:
        text = located(self.reason, line=self.line, field=self.field)
        return f"{self.file_name}: {text}" if self.file_name else text


@dataclass(frozen=True)
class _Checked:
    sha256: str
    size: int
    head: bytes
    newlines: int


def _read_and_hash(content: BinaryIO) -> _Checked:
    digest, size, head, newlines = hashlib.sha256(), 0, b"", 0
    content.seek(0)
    while chunk := content.read(HASH_CHUNK):
        if size == 0:
            head = chunk
        digest.update(chunk)
        newlines += chunk.count(b"\n")
        size += len(chunk)
        if size > settings.STATEMENT_MAX_BYTES:
            break
    content.seek(0)
    return _Checked(digest.hexdigest(), size, head, newlines)


def archive_limits() -> parsers.ArchiveLimits:
    """What a zipped statement may expand to, from the settings."""
    return parsers.ArchiveLimits(
        max_expanded_bytes=settings.STATEMENT_MAX_EXPANDED_BYTES, max_ratio=settings.STATEMENT_MAX_ZIP_RATIO
    )


def _detect(content: BinaryIO, head: bytes, name: str) -> parsers.Detected | None:
    if not head.startswith(b"PK\x03\x04"):
        try:
            return parsers.detect(head)
        except parsers.StatementParseError as exc:  # a personal bill, UTF-16 text: refused before it is stored
            raise StatementRefused.of_parse_error(exc, file_name=name) from exc
    # An archive is recognised by its members, which needs the whole (small) file.
    content.seek(0)
    data = content.read()
    content.seek(0)
    try:
        return parsers.detect(data, archive_limits=archive_limits())
    except parsers.ArchiveRefused as exc:  # a zip bomb, unsafe member names: refused before it is stored
        raise StatementRefused.of_parse_error(exc, file_name=name) from exc


def _configured_format(
    channel: Channel, kind: str, detected: parsers.Detected | None, *, or_default: bool
) -> StatementFormat | None:
    """The channel's configured format of ``kind`` for the detected content (the default one first),
    else, with ``or_default``, its default format of the kind (a configurable format reads what
    detection does not know)."""
    formats = channel.statement_formats.filter(kind=kind).order_by("-is_default", "id")
    if detected is not None:
        matching = formats.filter(format_code=detected.format).first()
        if matching is not None:
            return matching
    return formats.filter(is_default=True).first() if or_default else None


def channel_formats_accepted(*, channel: Channel, kind: str) -> frozenset[str] | None:
    """The format codes ``channel`` takes for statements of ``kind``; None: any format.

    The rule: the channel's configured statement formats of that kind (admin, "statement formats"),
    when it has any; else the formats of its kind (CHANNEL_KIND_FORMATS): a WeChat channel takes the
    WeChat bills, an Alipay channel the Alipay bills, a UnionPay channel the ZM file, a bank-direct
    channel MT940, camt.053 and a configured CSV/XLSX format; a channel of kind "other" any format until
    formats are configured for it."""
    configured = frozenset(channel.statement_formats.filter(kind=kind).values_list("format_code", flat=True))
    if configured:
        return configured
    by_kind = CHANNEL_KIND_FORMATS.get(channel.kind)
    if by_kind is None:
        return None
    return frozenset(code for code in by_kind if parsers.FORMATS[code].kind in (None, kind))


def _format_labels(codes) -> str:
    return ", ".join(sorted(str(FormatCode(code).label) for code in codes))


def _not_taken(channel: Channel, kind: str, format_code: str, accepted: frozenset[str], name: str) -> StatementRefused:
    what = {
        "format": FormatCode(format_code).label,
        "channel": channel.code,
        "channel_kind": channel.get_kind_display(),
        "kind": StatementKind(kind).label,
        "accepted": _format_labels(accepted),
    }
    if accepted:
        reason = _(
            "the file is in the format %(format)s, which channel %(channel)s (%(channel_kind)s) does not take: its %(kind)s "
            "files are %(accepted)s. Upload it under the channel it belongs to, or have an administrator add "
            "the format to the channel's statement formats."
        )
    else:
        reason = _(
            "the file is in the format %(format)s, but channel %(channel)s (%(channel_kind)s) takes no %(kind)s files. Upload "
            "it under the channel it belongs to, or have an administrator add the format to the channel's "
            "statement formats."
        )
    return StatementRefused(reason % what, file_name=name)


def _describe(statement_file: StatementFile) -> str:
    who = statement_file.uploaded_by.get_username() if statement_file.uploaded_by else statement_file.get_source_display()
    return _("#%(id)s %(name)s, received %(when)s by %(who)s (%(status)s)") % {
        "id": statement_file.pk,
        "name": statement_file.original_name or "-",
        "when": statement_file.received_at.astimezone(ZoneInfo(settings.TIME_ZONE)).strftime("%Y-%m-%d %H:%M"),
        "who": who,
        "status": statement_file.get_status_display(),
    }


def _duplicate(channel: Channel, earlier: StatementFile, name: str) -> StatementRefused:
    return StatementRefused(
        _("the same file was already received for channel %(channel)s: %(earlier)s")
        % {"channel": channel.code, "earlier": _describe(earlier)},
        file_name=name,
        duplicate_of=earlier,
    )


def statement_receive(
    *,
    channel: Channel,
    content: BinaryIO,
    original_name: str,
    source: str,
    acting_user,
    now: datetime,
    kind: str | None = None,
    statement_date: date | None = None,
    statement_format: StatementFormat | None = None,
    bank_account: BankAccount | None = None,
    parse_later: bool = False,
) -> StatementFile:
    """Check and store one statement file. Kind, format and date are taken from the caller, else from
    the channel's configured format, else detected from the content (never from the file name).
    ``parse_later``: a worker parses it once the caller's transaction commits.

    The file must be of a format the channel takes (``channel_formats_accepted``): a recognised content
    of another format is refused before it is stored, naming the content's format and the channel."""
    checked = _read_and_hash(content)
    name = original_name
    if checked.size == 0:
        raise StatementRefused(_("the file is empty"), file_name=name)
    if checked.size > settings.STATEMENT_MAX_BYTES:
        raise StatementRefused(
            _("the file is too big: more than %(limit)d MB (STATEMENT_MAX_BYTES)")
            % {"limit": settings.STATEMENT_MAX_BYTES // (1 << 20)},
            file_name=name,
        )
    # A copy that was refused never blocks taking the same bytes in again (after the format was fixed, say).
    earlier = (
        StatementFile.objects.select_related("uploaded_by")
        .filter(channel=channel, sha256=checked.sha256)
        .exclude(status=StatementFile.Status.FAILED)
        .first()
    )
    if earlier is not None:
        raise _duplicate(channel, earlier, name)

    detected = _detect(content, checked.head, name)
    if statement_format is not None and statement_format.channel_id != channel.pk:
        raise StatementRefused(
            _("the statement format %(format)s is channel %(other)s's, not channel %(channel)s's")
            % {"format": statement_format, "other": statement_format.channel.code, "channel": channel.code},
            file_name=name,
        )
    if statement_format is None and kind:
        statement_format = _configured_format(channel, kind, detected, or_default=True)
    elif statement_format is None and detected is not None:
        # No kind declared: the channel's settings for the detected format apply (strict totals…).
        statement_format = _configured_format(channel, str(detected.kind), detected, or_default=False)
    if statement_format is not None:
        format_code, format_kind = statement_format.format_code, statement_format.kind
    elif detected is not None:
        format_code, format_kind = detected.format, str(detected.kind)
    else:
        raise StatementRefused(
            _("the format is not recognised and channel %(channel)s has no statement format configured for it")
            % {"channel": channel.code},
            file_name=name,
        )
    kind = kind or format_kind
    if kind != format_kind:
        raise StatementRefused(
            _("not the declared type: declared %(declared)s, but the format %(format)s holds %(actual)s")
            % {"declared": StatementKind(kind).label, "format": format_code, "actual": StatementKind(format_kind).label},
            file_name=name,
        )
    accepted = channel_formats_accepted(channel=channel, kind=kind)
    content_format = detected.format if detected is not None else format_code
    if accepted is not None and content_format not in accepted:
        raise _not_taken(channel, kind, content_format, accepted, name)
    if (
        detected is not None
        and statement_format is not None
        and detected.format != format_code
        and format_code != FormatCode.GENERIC
    ):
        raise StatementRefused(
            _("not the declared type: the channel expects %(expected)s, the content is %(actual)s")
            % {"expected": format_code, "actual": detected.format},
            file_name=name,
        )
    statement_date = statement_date or (detected.statement_date if detected else None)
    if statement_date is None:
        raise StatementRefused(_("no statement date was given and the file does not tell it"), file_name=name)

    statement_file = StatementFile(
        channel=channel,
        kind=kind,
        statement_date=statement_date,
        format_code=format_code,
        statement_format=statement_format,
        bank_account=bank_account,
        sha256=checked.sha256,
        original_name=name[:255],
        size=checked.size,
        source=source,
        uploaded_by=acting_user,
        received_at=now,
        currency=channel.currency,
        source_lines=None if checked.head.startswith(b"PK") or format_code == "CAMT053" else checked.newlines,
    )
    statement_file.raw_file.save("raw", File(content), save=False)
    try:
        with transaction.atomic():
            statement_file.save()
    except IntegrityError:
        # The same bytes arrived at the same moment by another path (an upload and a fetch): the
        # database's unique constraint decided; answer as for any duplicate and drop our copy.
        statement_file.raw_file.delete(save=False)
        earlier = (
            StatementFile.objects.filter(channel=channel, sha256=checked.sha256)
            .exclude(status=StatementFile.Status.FAILED)
            .first()
        )
        if earlier is None:
            raise
        raise _duplicate(channel, earlier, name) from None
    if parse_later:
        enqueue(Job.STATEMENT_PARSE, statement_file_id=statement_file.pk)
    return statement_file


# --- parsing -------------------------------------------------------------------------------------


def _parser_options(statement_file: StatementFile) -> dict:
    options = {
        "tz": ZoneInfo(settings.TIME_ZONE),
        "currency": statement_file.channel.currency,
        "strict_totals": statement_file.statement_format.strict_totals if statement_file.statement_format else True,
        "account_ref": statement_file.bank_account.account_no if statement_file.bank_account else "",
        "archive_limits": archive_limits(),
        # Empty: the parser detects it.
        "encoding": (statement_file.statement_format.encoding or None) if statement_file.statement_format else None,
    }
    if statement_file.format_code == FormatCode.GENERIC:
        options["config"] = parsers.GenericFormatConfig.from_dict(statement_file.statement_format.config)
    accepted = inspect.signature(parsers.FORMATS[statement_file.format_code].parse).parameters
    return {k: v for k, v in options.items() if k in accepted}


class _DuplicateLines:
    """Finds a line repeated byte for byte (a corrupted or concatenated file) without keeping the lines:
    a dict of hashes flags candidates, which are then confirmed exactly in the database."""

    def __init__(self):
        self.first_line_by_hash: dict[int, int] = {}
        self.candidates: list[tuple[int, int]] = []

    def watch(self, rows: Iterator) -> Iterator:
        first_lines = self.first_line_by_hash
        for row in rows:
            first = first_lines.setdefault(hash(row.raw), row.source_line)
            if first != row.source_line:
                self.candidates.append((first, row.source_line))
            yield row

    def confirm(self, model, statement_file: StatementFile) -> list[tuple[int, int]]:
        """(first line, repeated line) of every line repeated byte for byte: one query for every candidate."""
        if not self.candidates:
            return []
        numbers = {n for pair in self.candidates for n in pair}
        raws = dict(
            model.objects.filter(file=statement_file, line_no__in=sorted(numbers)).values_list("line_no", "raw").iterator()
        )
        return [
            (first, again) for first, again in self.candidates if raws.get(first) is not None and raws[first] == raws.get(again)
        ]


def _totals_json(totals: parsers.StatementTotals) -> dict:
    return {
        "count": totals.count,
        "fee": str(totals.fee),
        **({"declared_fee": str(totals.declared_fee)} if totals.declared_fee is not None else {}),
        "by_type": {
            str(key): {"count": totals.count_by_type.get(key, 0), "amount": str(amount)}
            for key, amount in sorted(totals.amount_by_type.items())
        },
    }


def _metadata_json(metadata: parsers.StatementMetadata) -> dict:
    def plain(value):
        return None if value is None else str(value)

    return {
        "account_ref": metadata.account_ref,
        "period_start": plain(metadata.period_start),
        "period_end": plain(metadata.period_end),
        "statement_date": plain(metadata.statement_date),
        "opening_balance": plain(metadata.opening_balance),
        "closing_balance": plain(metadata.closing_balance),
        "raw_columns": list(metadata.raw_columns),
        "variant": metadata.variant,
    }


def _open_raw(statement_file: StatementFile) -> BinaryIO:
    statement_file.raw_file.open("rb")
    return statement_file.raw_file.file


# Formats whose file is itself the channel's business day: UnionPay's ZM file lists one clearing date's
# transactions, cut at UnionPay's own cutoff.
DATED_BY_STATEMENT = frozenset({FormatCode.UNIONPAY_ZM})


def _line_dating(statement_file: StatementFile):
    """How a line without a business date of its own is dated: by its time under the channel's cutoff, or
    (None) by the statement's date. A channel's bill of a calendar day (WeChat, Alipay) is the business day
    when the channel cuts at midnight; with a later cutoff, the lines after it belong to the next day. A
    configurable export is always dated line by line: its rows may span several days."""
    channel = statement_file.channel
    if statement_file.format_code in DATED_BY_STATEMENT:
        return None
    if channel.cutoff_time == time(0, 0) and statement_file.format_code != FormatCode.GENERIC:
        return None
    return channel.business_date_of


def _account_keys(reference: str, currency: str = "") -> set[str]:
    """The ways a statement may write one of our account numbers, compared without spaces or case: as it
    is, after a bank code and a slash (MT940 ``:25:BANKCODE/number``), without the currency some banks
    append (``NL69INGB0123456789EUR``)."""
    written = "".join(reference.split()).upper()
    keys = {written}
    if "/" in written:
        keys.add(written.rsplit("/", 1)[1])
    if currency:
        keys |= {key[: -len(currency)] for key in keys if key.endswith(currency.upper()) and len(key) > len(currency)}
    keys.discard("")
    return keys


def _our_account(account: BankAccount) -> str:
    """One of our bank accounts as a refusal names it: masked (as everywhere on screen), and in no language
    (the refusal is stored and read later in the reader's own)."""
    return f"{account.bank.name} ****{account.account_no[-4:]}"


class _BankAccountCheck:
    """A bank statement must be of ONE of the channel's bank accounts (an account at the channel's bank,
    or its settlement account; the one chosen at intake, when one was), in that account's currency.

    A StatementFile is of one bank account with one pair of balances (the books check reads them per
    account): a file holding statements of several accounts or currencies is refused naming them, to be
    sent as one file per account. Statements of the same account (several days) may share a file."""

    def __init__(self, statement_file: StatementFile):
        channel = statement_file.channel
        self.channel = channel
        self.chosen = statement_file.bank_account
        held = Q(bank_id=channel.bank_id)
        if channel.settlement_account_id:
            held |= Q(pk=channel.settlement_account_id)
        self.accounts = list(BankAccount.objects.filter(held).select_related("bank").order_by("id"))
        self.account: BankAccount | None = None
        self.currency = ""
        self.ids_by_reference: dict[str, int] = {}  # as written in the file, for the movement encoder

    def _find(self, reference: str, currency: str) -> BankAccount | None:
        keys = _account_keys(reference, currency)
        for account in self.accounts:
            if _account_keys(account.account_no) & keys:
                return account
        return None

    def statements(self, found: list[tuple[str, str]]) -> BankAccount:
        """Check the (account, currency) of each statement in the file; the file's bank account."""
        distinct: dict[tuple[object, str], str] = {}
        for reference, currency in found:
            ours = self._find(reference, currency)  # one account however each statement writes it
            key = (ours.pk if ours is not None else "".join(reference.split()).upper(), currency)
            distinct.setdefault(key, f"{reference or '-'} {currency}".strip())
        if len(distinct) > 1:
            raise parsers.StatementParseError(
                Message(IntakeCode.SEVERAL_ACCOUNTS, count=len(distinct), accounts="; ".join(distinct.values())),
                field="Acct",
            )
        reference, currency = found[0] if found else ("", "")
        if not reference:
            raise parsers.StatementParseError(Message(IntakeCode.NO_ACCOUNT), field="Acct")
        account = self._find(reference, currency)
        if account is None or (self.chosen is not None and account.pk != self.chosen.pk):
            if self.chosen is not None and self._find(self.chosen.account_no, "") is None:
                problem = Message(
                    IntakeCode.CHOSEN_ACCOUNT_NOT_THE_CHANNELS, chosen=_our_account(self.chosen), channel=self.channel.code
                )
            elif self.chosen is not None:
                problem = Message(IntakeCode.NOT_THE_CHOSEN_ACCOUNT, account=reference, chosen=_our_account(self.chosen))
            else:
                held = [_our_account(held) for held in self.accounts]
                problem = Message(
                    IntakeCode.NOT_THE_CHANNELS_ACCOUNT,
                    account=reference,
                    channel=self.channel.code,
                    held=parsers.messages.names_or_none(held),
                )
            raise parsers.StatementParseError(problem, field="Acct")
        if currency and currency != account.currency:
            raise parsers.StatementParseError(
                Message(
                    IntakeCode.ACCOUNT_CURRENCY,
                    account=reference,
                    currency=currency,
                    ours=_our_account(account),
                    held=account.currency,
                ),
                field="Ccy",
            )
        self.account, self.currency = account, currency or account.currency
        self.ids_by_reference[reference] = account.pk
        return account

    def rows(self, rows: Iterator[parsers.FundMovementRow]) -> Iterator[parsers.FundMovementRow]:
        """The movements, each checked to be of the file's account and currency (a later statement of
        another account, in a format that lists only the first statement's account, shows here)."""
        for row in rows:
            if row.account_ref not in self.ids_by_reference:
                if self._find(row.account_ref, row.currency) != self.account:
                    raise parsers.StatementParseError(
                        Message(
                            IntakeCode.MOVEMENT_OF_ANOTHER_ACCOUNT,
                            other=row.account_ref or "-",
                            account=_our_account(self.account),
                        ),
                        line=row.source_line,
                        field="account",
                    )
                self.ids_by_reference[row.account_ref] = self.account.pk
            if row.currency != self.currency:
                raise parsers.StatementParseError(
                    Message(IntakeCode.MOVEMENT_CURRENCY, currency=row.currency or "-", held=self.currency),
                    line=row.source_line,
                    field="currency",
                )
            yield row


def _statement_accounts(statement_file: StatementFile, parsed: parsers.ParsedStatement) -> list[tuple[str, str]]:
    """(account, currency) of every statement in a bank statement file."""
    if statement_file.format_code == FormatCode.CAMT053:
        # A stream of its own: the parse's stream (the same FieldFile) is being read.
        with statement_file.raw_file.storage.open(statement_file.raw_file.name, "rb") as stream:
            return parsers.camt053.statement_accounts(stream, archive_limits=archive_limits())
    # MT940: the parser lists every statement's :25: and currency when parse returns (MT940Metadata.statements);
    # failing that, the first statement's, and later statements' accounts show on their movements.
    listed = getattr(parsed.metadata, "statements", None)
    if listed:
        return [(header.account, header.currency) for header in listed]
    return [(parsed.metadata.account_ref, parsed.currency)]


@dataclass
class _ParseState:
    """What a parse learnt, kept for the failure record when it is refused."""

    warnings: list[parsers.ParseWarning] | None = None  # the parser's own list, filled as the rows are read

    def warnings_json(self, *extra: dict) -> list[dict]:
        return [problem_json(w.problem, line=w.line, field=w.field) for w in self.warnings or []] + list(extra)


def _parse_into_database(statement_file: StatementFile, progress: ProgressReporter, state: _ParseState) -> None:
    options = _parser_options(statement_file)
    with _open_raw(statement_file) as stream:
        parsed = parsers.parse(statement_file.format_code, stream, **options)
        state.warnings = parsed.warnings
        rows = parsed.rows
        if str(parsed.kind) != statement_file.kind:
            raise parsers.StatementParseError(
                Message(IntakeCode.NOT_THE_DECLARED_KIND, read=_kind(parsed.kind), declared=_kind(statement_file.kind))
            )
        account_check = None
        if statement_file.format_code in BANK_STATEMENT_FORMATS:
            account_check = _BankAccountCheck(statement_file)
            account_check.statements(_statement_accounts(statement_file, parsed))
            rows = account_check.rows(rows)
        fixed = (statement_file.pk, statement_file.channel_id, statement_file.statement_date)
        if statement_file.kind == StatementKind.BUSINESS:
            encode = statement_copy.line_encoder(*fixed, day_of=_line_dating(statement_file))
            model, columns = StatementLine, statement_copy.LINE_COLUMNS
        else:
            if account_check is not None:
                # Filled as the rows are checked: every movement to the file's account, however written.
                accounts, account_id = account_check.ids_by_reference, account_check.account.pk
            else:
                accounts = dict(BankAccount.objects.filter(bank=statement_file.channel.bank).values_list("account_no", "id"))
                account_id = statement_file.bank_account_id
            model, columns = FundMovement, statement_copy.MOVEMENT_COLUMNS
            encode = statement_copy.movement_encoder(*fixed, accounts, account_id)
        duplicates = _DuplicateLines()
        try:
            written = statement_copy.copy_rows(
                model._meta.db_table, columns, map(encode, duplicates.watch(rows)), progress.report
            )
        except statement_copy.CopyRowError as exc:
            # Locate the refused row in the file: parse again up to it (only on this error path).
            with _open_raw(statement_file) as again:
                rows = parsers.parse(statement_file.format_code, again, **{**options, "strict_totals": False}).rows
                row = statement_copy.nth(rows, exc.row_index)
            raise parsers.StatementParseError(
                _copy_refusal(exc, row), line=row.source_line if row else None, field=exc.column
            ) from exc
        if written >= ANALYZE_AFTER_ROWS:  # before anything reads them back
            first, last = (encode.first, encode.last) if model is StatementLine else (statement_file.statement_date,) * 2
            daily_rows_analyze(model, [first + timedelta(days=n) for n in range((last - first).days + 1)])
        metadata = parsed.metadata
        quiet = account_check is not None and (metadata.opening_balance is not None or metadata.closing_balance is not None)
        if written == 0 and not quiet:
            raise parsers.StatementParseError(Message(IntakeCode.NO_LINES))
        repeated = duplicates.confirm(model, statement_file)
        # The channel's mistake to chase: imported and reported (a run finds the DUPLICATE), unless the
        # channel's format says such a file is refused.
        refuse = statement_file.statement_format.refuse_repeated_lines if statement_file.statement_format else False
        if repeated and refuse:
            first, again = repeated[0]
            raise parsers.StatementParseError(Message(IntakeCode.REPEATED_LINE, first=first), line=again)
        statement_file.line_count = written
        if model is StatementLine:
            statement_file.lines_from, statement_file.lines_to = encode.first, encode.last
        statement_file.totals = _totals_json(parsed.totals)
        statement_file.metadata = _metadata_json(parsed.metadata)
        statement_file.warnings = state.warnings_json(
            *(problem_json(Message(IntakeCode.REPEATED_LINE_KEPT, first=first), line=again) for first, again in repeated),
            *([problem_json(Message(IntakeCode.QUIET_DAY))] if written == 0 else []),
        )
        if parsed.currency:
            statement_file.currency = parsed.currency
        if account_check is not None:
            statement_file.bank_account = account_check.account


def _kind(kind: str) -> Message:
    return Message(IntakeCode.BUSINESS_KIND if kind == StatementKind.BUSINESS else IntakeCode.FUND_KIND)


def _copy_refusal(exc: statement_copy.CopyRowError, row) -> Message:
    """Why PostgreSQL refused a row of the COPY, naming the value when the refused row was found again."""
    # A CHECK refuses a value outside its column's allowed set (a currency we do not settle in); any other
    # refusal is a value the column cannot hold (too long), in PostgreSQL's own words.
    unsupported = isinstance(exc.__cause__, psycopg.errors.CheckViolation)
    if row is not None and exc.column and hasattr(row, exc.column):
        value = repr(getattr(row, exc.column))
        if unsupported:
            return Message(IntakeCode.VALUE_NOT_SUPPORTED, value=value)
        return Message(IntakeCode.VALUE_NOT_STORED, value=value, detail=exc.reason)
    if unsupported:
        return Message(IntakeCode.ROW_VALUE_NOT_SUPPORTED)
    return Message(IntakeCode.ROW_NOT_STORED, detail=exc.reason)


class ParseAttemptsExhausted(parsers.StatementParseError):
    """A file whose parse stopped its worker (out of memory, killed) too many times: refused, not parsed again."""

    def __init__(self, stopped: int):
        super().__init__(Message(IntakeCode.ATTEMPTS_EXHAUSTED, count=stopped, limit=settings.STATEMENT_PARSE_MAX_ATTEMPTS))


def _attempt_counted_aside(statement_file: StatementFile) -> bool:
    """Count one more parse attempt on a second, autocommit connection, committed at once: a parse that
    kills its worker rolls back its own transaction, never this count. False when that connection cannot
    take the row: not committed yet (created in the caller's own open transaction, which a crash takes away
    too) or held by another transaction; the caller then counts it on its own connection."""
    table = StatementFile._meta.db_table
    with independent_connection() as side:
        counted = side.execute(
            f"UPDATE {table} SET parse_attempts = parse_attempts + 1 "
            f"WHERE id = (SELECT id FROM {table} WHERE id = %s AND status <> %s FOR UPDATE SKIP LOCKED) RETURNING id",
            [statement_file.pk, str(StatementFile.Status.PARSED)],
        ).fetchone()
    return counted is not None


def statement_parse(*, statement_file: StatementFile, now: datetime, reconcile: bool = True) -> StatementFile:
    """Parse a received file into its rows, all or nothing. Safe to call twice or concurrently: a file
    already parsed, or being parsed by another worker, is left alone (an advisory lock decides).
    A parsed business-detail file then starts its date's reconciliation (``reconcile=False``: the
    caller reconciles itself).

    Every attempt is counted before it starts, and the count is kept only while attempts do not finish:
    a file whose parse stopped the worker more than STATEMENT_PARSE_MAX_ATTEMPTS times (a task redelivered
    after each crash) is refused instead of parsed again."""
    counted = _attempt_counted_aside(statement_file)
    state = _ParseState()
    moved = (
        StatementFile.objects.filter(pk=statement_file.pk)
        .exclude(status=StatementFile.Status.PARSED)
        .update(
            status=StatementFile.Status.PARSING,
            parse_started_at=now,
            progress_lines=0,
            errors=[],
            warnings=[],
            **({} if counted else {"parse_attempts": F("parse_attempts") + 1}),
        )
    )
    statement_file.refresh_from_db()
    if not moved:
        return statement_file
    # The rows go to their day's partition: made now if the beat has not made it yet (a line the channel's
    # cutoff dates a day later included); a day beyond those goes to the default partition until maintenance.
    day = statement_file.statement_date
    partitions_ensure(
        StatementLine if statement_file.kind == StatementKind.BUSINESS else FundMovement,
        (day - timedelta(days=1), day, day + timedelta(days=1)),
    )
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [PARSE_LOCK_NAMESPACE, statement_file.pk])
                if not cursor.fetchone()[0]:
                    # Another worker holds it and will finish the job (and, finishing, clear the count this
                    # attempt added).
                    return statement_file
            if statement_file.parse_attempts > settings.STATEMENT_PARSE_MAX_ATTEMPTS:
                raise ParseAttemptsExhausted(statement_file.parse_attempts - 1)
            with ProgressReporter(statement_file.pk) as progress:
                _parse_into_database(statement_file, progress, state)
            statement_file.status = StatementFile.Status.PARSED
            statement_file.parsed_at = now
            statement_file.progress_lines = statement_file.line_count
            statement_file.parse_attempts = 0  # this one finished
            statement_file.save(
                update_fields=[
                    "status",
                    "parsed_at",
                    "progress_lines",
                    "parse_attempts",
                    "line_count",
                    "lines_from",
                    "lines_to",
                    "totals",
                    "metadata",
                    "warnings",
                    "currency",
                    "bank_account",
                ]
            )
            if StatementFile.objects.filter(superseded_by=statement_file).exists():
                # The channel's corrected file: it takes the earlier one's place, then the date runs again.
                replacement_takes_effect(replacement=statement_file, now=now)
            elif reconcile and statement_file.kind == StatementKind.BUSINESS:
                _reconcile_when_committed(statement_file)
    except (parsers.StatementParseError, parsers.FormatConfigError, zipfile.BadZipFile) as exc:
        error = _failure(statement_file, exc, state)
        raise StatementRefused(
            problem_text(error),
            file_name=statement_file.original_name,
            line=error["line"],
            field=error["field"],
            statement_file=statement_file,
            problem={"code": error["code"], "params": error["params"]},
        ) from exc
    except Exception as exc:
        # Never leave a file shown as "parsing" forever: record the failure, then let it surface.
        _failure(statement_file, exc, state)
        raise
    return statement_file


def _reconcile_when_committed(statement_file: StatementFile) -> None:
    """A business-detail file for a date starts (or, if one is running, queues) that date's run.

    A channel an admin has switched off keeps receiving files but starts no runs by itself."""
    if not statement_file.channel.is_active:
        return
    days = {statement_file.statement_date}
    if statement_file.lines_from is not None:
        # Lines the cutoff put on another date that was reconciled already: that date runs again too.
        days |= set(
            ReconciliationRun.objects.filter(
                channel_id=statement_file.channel_id,
                business_date__range=(statement_file.lines_from, statement_file.lines_to),
                status=ReconciliationRun.Status.SUCCEEDED,
            ).values_list("business_date", flat=True)
        )
    for day in sorted(days):
        enqueue(Job.RUN_START, channel_id=statement_file.channel_id, trigger=RunTrigger.FILE, business_date=day.isoformat())


def _failure_json(exc: Exception) -> dict:
    """The refusal as the file stores it: code, parameters, English text, line and field."""
    if isinstance(exc, parsers.StatementParseError):
        return problem_json(exc.problem, line=exc.line, field=exc.field)
    if isinstance(exc, parsers.FormatConfigError):
        return problem_json(Message(IntakeCode.FORMAT_CONFIG, key=exc.key, reason=exc.problem))
    if isinstance(exc, zipfile.BadZipFile):
        return problem_json(Message(parsers.Code.ZIP_UNREADABLE, detail=str(exc)))
    return problem_json(Message(IntakeCode.FAILED, detail=str(exc) or type(exc).__name__))


def _failure(statement_file: StatementFile, exc: Exception, state: _ParseState | None = None) -> dict:
    """Record the refusal, with the warnings the parse had given so far (they often explain it: entries
    skipped before a balance mismatch). A line or field the error does not have is None, never empty."""
    error = _failure_json(exc)
    # An attempt that ends here finished (with a refusal): the count of unfinished ones starts again, unless
    # it is what refused the file.
    finished = {} if isinstance(exc, ParseAttemptsExhausted) else {"parse_attempts": 0}
    warnings = state.warnings_json() if state is not None else []
    StatementFile.objects.filter(pk=statement_file.pk).update(
        status=StatementFile.Status.FAILED, errors=[error], warnings=warnings, **finished
    )
    statement_file.refresh_from_db()
    return error
