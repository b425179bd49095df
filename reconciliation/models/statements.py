"""Statement files from the channels, their formats and sources, and the rows parsed from them."""

from __future__ import annotations

import codecs
import uuid

import pghistory
import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from backoffice.core import history
from backoffice.core.db import choices_check
from backoffice.core.money import currency_field, money_field
from reconciliation.models.channels import BankAccount, Channel, ChannelKind
from reconciliation.models.choices import BusinessType


class StatementKind(models.TextChoices):
    BUSINESS = "BUSINESS", _("Business detail")
    FUND = "FUND", _("Fund statement")


class FormatCode(models.TextChoices):
    """Mirrors reconciliation.parsers.FORMATS (a test keeps the two in step)."""

    WECHAT_TRADE = "WECHAT_TRADE", _("WeChat Pay trade bill")
    WECHAT_FUND = "WECHAT_FUND", _("WeChat Pay fund-flow bill")
    ALIPAY_TRADE = "ALIPAY_TRADE", _("Alipay business detail")
    ALIPAY_ACCOUNT = "ALIPAY_ACCOUNT", _("Alipay account detail")
    UNIONPAY_ZM = "UNIONPAY_ZM", _("UnionPay ZM file")
    MT940 = "MT940", _("SWIFT MT940")
    CAMT053 = "CAMT053", _("ISO 20022 camt.053")
    GENERIC = "GENERIC", _("Configurable CSV/XLSX")


# The formats a channel takes by its kind while it has no statement format configured for a statement kind
# (a configured StatementFormat list replaces this for its kind). A bank-direct channel's configurable
# format needs its mapping, so it is taken only once configured. None: any format (OTHER says nothing).
CHANNEL_KIND_FORMATS: dict[str, frozenset[str] | None] = {
    ChannelKind.WECHAT: frozenset({FormatCode.WECHAT_TRADE, FormatCode.WECHAT_FUND}),
    ChannelKind.ALIPAY: frozenset({FormatCode.ALIPAY_TRADE, FormatCode.ALIPAY_ACCOUNT}),
    ChannelKind.UNIONPAY: frozenset({FormatCode.UNIONPAY_ZM}),
    ChannelKind.BANK_DIRECT: frozenset({FormatCode.MT940, FormatCode.CAMT053, FormatCode.GENERIC}),
    ChannelKind.OTHER: None,
}


def validate_encoding(value: str) -> None:
    """A text encoding Python knows (gb18030, cp1252, latin-1, …)."""
    if not value:
        return
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValidationError(
            _("“%(value)s” is not a known text encoding (e.g. utf-8, gb18030, cp1252).") % {"value": value}
        ) from None


# Bank statements: they name the account they are of (MT940 :25:, camt.053 Acct/Id).
BANK_STATEMENT_FORMATS = frozenset({FormatCode.MT940, FormatCode.CAMT053})


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent())
class StatementFormat(models.Model):
    """How a channel's statements of one kind are read. GENERIC formats carry their column mapping."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="statement_formats", verbose_name=_("channel"))
    kind = models.CharField(_("kind"), max_length=16, choices=StatementKind.choices)
    format_code = models.CharField(_("format"), max_length=16, choices=FormatCode.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)
    config = models.JSONField(_("mapping"), default=dict, blank=True, help_text=_("Only for the configurable format."))
    strict_totals = models.BooleanField(
        _("refuse files whose totals do not match"),
        default=True,
        help_text=_("Off: a footer that disagrees with the rows is kept as a warning instead of refusing the file."),
    )
    is_default = models.BooleanField(_("default for this kind"), default=True)
    # Empty: detected (WeChat/Alipay bills: BOM, UTF-8, else GB18030; MT940: UTF-8, else the most plausible of
    # CP1252, Latin-1, CP437). The configurable format keeps its own in its mapping.
    encoding = models.CharField(
        _("encoding"),
        max_length=32,
        blank=True,
        validators=[validate_encoding],
        help_text=_("Leave empty to detect it; set it (e.g. gb18030, cp1252, cp437) when a bank's files are misread."),
    )
    refuse_repeated_lines = models.BooleanField(
        _("refuse files with a line repeated exactly"),
        default=False,
        help_text=_("Off: a repeated line is imported and reported as a duplicate for the clerks to chase."),
    )

    class Meta:
        verbose_name = _("statement format")
        verbose_name_plural = _("statement formats")
        constraints = [
            choices_check("kind", StatementKind, "statementformat_kind_valid"),
            choices_check("format_code", FormatCode, "statementformat_code_valid"),
            models.UniqueConstraint(
                fields=["channel", "kind"],
                condition=Q(is_default=True),
                name="statementformat_one_default_per_kind",
                violation_error_message=_("This channel already has a default format for this kind."),
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.channel.code} {self.get_kind_display()} ({self.get_format_code_display()})"


def statement_upload_to(instance: StatementFile, filename: str) -> str:
    # Never the uploaded name: a generated one under the channel and date.
    return f"statements/{instance.channel.code}/{instance.statement_date:%Y/%m/%d}/{uuid.uuid4().hex}"


def _statement_row_triggers(table: str, *, same_date: bool = True) -> list[pgtrigger.Trigger]:
    """Integrity of statement rows in the database, at a cost that suits million-line COPYs.

    A set-based foreign key: after each INSERT statement, every new row must name an existing statement
    file of the same channel (and date, with ``same_date``: a business line may be dated otherwise by the
    channel's cutoff) — one join per statement, where a row-level foreign key costs a lookup per row. Rows
    are then immutable: never updated or deleted, so the check cannot be undone.
    """
    other_date = " OR f.statement_date <> r.statement_date" if same_date else ""
    what = "of the same channel and date" if same_date else "of the same channel"
    check = f"""
        IF EXISTS (
            SELECT 1 FROM new_rows r LEFT JOIN reconciliation_statementfile f ON f.id = r.file_id
            WHERE f.id IS NULL OR f.channel_id <> r.channel_id{other_date}
        ) THEN
            RAISE EXCEPTION '{table} rows must belong to an existing statement file {what}'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    """
    return [
        pgtrigger.Trigger(
            name="insert_rows_belong_to_file",
            operation=pgtrigger.Insert,
            when=pgtrigger.After,
            level=pgtrigger.Statement,
            referencing=pgtrigger.Referencing(new="new_rows"),
            func=check,
        ),
        pgtrigger.Protect(name="rows_are_immutable", operation=pgtrigger.Update | pgtrigger.Delete),
    ]


class StatementFileStatus(models.TextChoices):
    RECEIVED = "RECEIVED", _("Received")
    PARSING = "PARSING", _("Parsing")
    PARSED = "PARSED", _("Parsed")
    FAILED = "FAILED", _("Failed")


class StatementFileSource(models.TextChoices):
    UPLOAD = "UPLOAD", _("Browser upload")
    API = "API", _("API")
    COMMAND = "COMMAND", _("Command line")
    FETCH = "FETCH", _("Scheduled fetch")


class StatementFile(models.Model):
    Status = StatementFileStatus
    Kind = StatementKind
    Source = StatementFileSource

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="statement_files", verbose_name=_("channel"))
    kind = models.CharField(_("kind"), max_length=16, choices=StatementKind.choices)
    statement_date = models.DateField(_("statement date"))
    format_code = models.CharField(_("format"), max_length=16, choices=FormatCode.choices)
    statement_format = models.ForeignKey(
        StatementFormat, on_delete=models.PROTECT, null=True, blank=True, related_name="files", verbose_name=_("format settings")
    )
    bank_account = models.ForeignKey(
        BankAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="statement_files",
        verbose_name=_("bank account"),
    )
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    raw_file = models.FileField(_("raw file"), upload_to=statement_upload_to, max_length=255)
    original_name = models.CharField(_("original file name"), max_length=255, blank=True)
    size = models.BigIntegerField(_("size (bytes)"))
    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=StatementFileStatus.choices, default=StatementFileStatus.RECEIVED
    )
    # Physical lines of the raw file (None for archives and XML): the denominator of the progress bar.
    source_lines = models.BigIntegerField(_("lines in the file"), null=True, blank=True)
    progress_lines = models.BigIntegerField(_("lines read so far"), default=0)
    line_count = models.BigIntegerField(_("lines"), null=True, blank=True)
    currency = currency_field(blank=True)
    # {"count": n, "fee": "1.23", "by_type": {"COLLECTION": {"count": n, "amount": "12.34"}, ...}} as the
    # rows give them (amounts as decimal strings), plus "declared" figures from the file's footer.
    totals = models.JSONField(_("totals"), default=dict, blank=True)
    metadata = models.JSONField(_("file facts"), default=dict, blank=True)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("uploaded by")
    )
    received_at = models.DateTimeField(_("received at"))
    parse_started_at = models.DateTimeField(_("parsing started"), null=True, blank=True)
    parsed_at = models.DateTimeField(_("parsed at"), null=True, blank=True)
    # Parses started and not finished since the last one that finished (parsed or refused): counted and
    # committed before a parse starts, so a parse that kills its worker (out of memory) is still counted,
    # and a file that keeps doing so is refused instead of being parsed forever (STATEMENT_PARSE_MAX_ATTEMPTS).
    parse_attempts = models.PositiveSmallIntegerField(_("unfinished parse attempts"), default=0)
    # A corrected file re-sent by the channel replaces this one: runs then read only the current file.
    superseded_by = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="supersedes",
        verbose_name=_("replaced by"),
    )
    # The earliest and latest business dates of the file's lines: the statement's date, unless the channel's
    # cutoff moved a line to the next day (or the statement dates its lines itself). Runs of those dates read
    # the file.
    lines_from = models.DateField(_("lines dated from"), null=True, blank=True)
    lines_to = models.DateField(_("lines dated to"), null=True, blank=True)
    superseded_at = models.DateTimeField(_("replaced at"), null=True, blank=True)
    supersede_reason = models.TextField(_("why it was replaced"), blank=True)
    superseded_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("replaced by (staff)"),
    )

    class Meta:
        verbose_name = _("statement file")
        verbose_name_plural = _("statement files")
        constraints = [
            choices_check("kind", StatementKind, "statementfile_kind_valid"),
            choices_check("status", StatementFileStatus, "statementfile_status_valid"),
            choices_check("source", StatementFileSource, "statementfile_source_valid"),
            choices_check("format_code", FormatCode, "statementfile_format_valid"),
            # The same bytes twice are one file; a copy that failed never blocks taking them in again.
            models.UniqueConstraint(
                fields=["channel", "sha256"], condition=~Q(status=StatementFileStatus.FAILED), name="statementfile_unique_content"
            ),
            models.CheckConstraint(
                condition=Q(superseded_by__isnull=True) | (~Q(supersede_reason="") & Q(superseded_at__isnull=False)),
                name="statementfile_replacement_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["channel", "statement_date", "kind"], name="statementfile_channel_date")]
        # Statement files are financial records: never deleted (their lines point at them).
        triggers = [pgtrigger.Protect(name="statementfile_no_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.channel.code} {self.statement_date} {self.get_kind_display()} #{self.pk}"


class LineStatus(models.TextChoices):
    SUCCESS = "SUCCESS", _("Success")
    FAILED = "FAILED", _("Failed")
    PROCESSING = "PROCESSING", _("Processing")


class StatementLine(models.Model):
    """One line of a business-detail statement. Written in bulk (COPY); immutable afterwards."""

    # The references to the file and channel are checked by a statement-level trigger (below), not by
    # row-level foreign keys: a row-by-row check costs ~8 s per million lines on COPY, the set check
    # one hash join. No single-column indexes either: the file index leads with file_id.
    file = models.ForeignKey(
        StatementFile,
        on_delete=models.PROTECT,
        related_name="lines",
        verbose_name=_("file"),
        db_index=False,
        db_constraint=False,
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="+", verbose_name=_("channel"), db_index=False, db_constraint=False
    )
    # The line's business date: its statement's date, unless the statement dates the line itself or the
    # channel's cutoff puts its time on the next day (StatementFile.lines_from/lines_to).
    statement_date = models.DateField(_("business date"))
    line_no = models.IntegerField(_("line"))
    channel_txn_no = models.CharField(_("channel serial"), max_length=64, blank=True)
    txn_no = models.CharField(_("our transaction number"), max_length=64, blank=True)
    # A line's type is a business type: the parsers' LineType mirrors BusinessType (a test holds them together).
    line_type = models.CharField(_("type"), max_length=16, choices=BusinessType.choices)
    type_code = models.CharField(_("channel's type code"), max_length=32, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=LineStatus.choices)
    amount = money_field(_("amount"))
    fee = money_field(_("fee"))
    currency = currency_field()
    occurred_at = models.DateTimeField(_("occurred at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    refund_no = models.CharField(_("refund serial"), max_length=64, blank=True)
    original_channel_txn_no = models.CharField(_("original channel serial"), max_length=64, blank=True)
    original_txn_no = models.CharField(_("original transaction number"), max_length=64, blank=True)
    batch_ref = models.CharField(_("batch reference"), max_length=64, blank=True)
    raw = models.TextField(_("source text"))

    class Meta:
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="statementline_amount_gte_0"),
            choices_check("line_type", BusinessType, "statementline_type_valid"),
            choices_check("status", LineStatus, "statementline_status_valid"),
        ]
        # Lines are read by file (a file's page, a date's files for matching); the few batch lines also by
        # their batch (a partial index: plain lines cost it nothing on COPY).
        indexes = [
            models.Index(fields=["file", "line_no"], name="statementline_file_line"),
            models.Index(fields=["batch_ref"], name="statementline_batch", condition=~Q(batch_ref="")),
        ]
        triggers = _statement_row_triggers("statement line", same_date=False)

    def __str__(self) -> str:
        return f"{self.file_id}:{self.line_no}"


class Direction(models.TextChoices):
    DEBIT = "DEBIT", _("Debit")
    CREDIT = "CREDIT", _("Credit")


class FundMovement(models.Model):
    """One debit or credit on one of our bank accounts, from a fund statement."""

    PERSONAL_FIELDS = {"counterparty_account": "account_number", "counterparty_name": "name"}

    # Checked by statement-level triggers, as for StatementLine.
    file = models.ForeignKey(
        StatementFile,
        on_delete=models.PROTECT,
        related_name="movements",
        verbose_name=_("file"),
        db_index=False,
        db_constraint=False,
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="+", verbose_name=_("channel"), db_index=False, db_constraint=False
    )
    bank_account = models.ForeignKey(
        BankAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="movements", verbose_name=_("bank account")
    )
    # The line's business date: its statement's date, unless the statement dates the line itself or the
    # channel's cutoff puts its time on the next day (StatementFile.lines_from/lines_to).
    statement_date = models.DateField(_("business date"))
    line_no = models.IntegerField(_("line"))
    account_ref = models.CharField(_("account in the file"), max_length=64, blank=True)
    booking_date = models.DateField(_("booking date"))
    booked_at = models.DateTimeField(_("booked at"), null=True, blank=True)
    value_date = models.DateField(_("value date"), null=True, blank=True)
    direction = models.CharField(_("debit/credit"), max_length=8, choices=Direction.choices)
    amount = money_field(_("amount"))
    balance_after = money_field(_("balance after"), null=True, blank=True)
    currency = currency_field()
    counterparty_name = models.CharField(_("counterparty"), max_length=200, blank=True)
    counterparty_account = models.CharField(_("counterparty account"), max_length=64, blank=True)
    memo = models.TextField(_("memo"), blank=True)
    bank_ref = models.CharField(_("bank reference"), max_length=64, blank=True)
    batch_ref = models.CharField(_("batch reference"), max_length=64, blank=True)
    business_ref = models.CharField(_("business reference"), max_length=64, blank=True)
    is_reversal = models.BooleanField(_("reversal"), default=False)
    # Batch entries (one debit, many payouts): [{"amount": "1.00", "currency": "CNY", "reference": ...}, ...]
    items = models.JSONField(_("batch items"), default=list, blank=True)
    raw = models.TextField(_("source text"))

    class Meta:
        verbose_name = _("fund movement")
        verbose_name_plural = _("fund movements")
        constraints = [
            choices_check("direction", Direction, "fundmovement_direction_valid"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="fundmovement_amount_gte_0"),
        ]
        indexes = [
            models.Index(fields=["file", "line_no"], name="fundmovement_file_line"),
            models.Index(fields=["channel", "statement_date"], name="fundmovement_channel_date"),
        ]
        triggers = _statement_row_triggers("fund movement")

    def __str__(self) -> str:
        return f"{self.file_id}:{self.line_no}"


class Transport(models.TextChoices):
    DIRECTORY = "DIRECTORY", _("Drop directory")
    SFTP = "SFTP", _("SFTP server")


# What a fetch writes back (when, with what result) is not configuration: left out of its history.
@pghistory.track(
    pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent(), exclude=["last_fetched_at", "last_result"]
)
class StatementSource(models.Model):
    """Where a channel's files are fetched from on a schedule: a drop directory or an SFTP server."""

    Transport = Transport

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="statement_sources", verbose_name=_("channel"))
    kind = models.CharField(_("kind"), max_length=16, choices=StatementKind.choices)
    transport = models.CharField(_("transport"), max_length=16, choices=Transport.choices)
    path = models.CharField(_("directory"), max_length=500, help_text=_("Local directory, or the directory on the SFTP server."))
    filename_pattern = models.CharField(
        _("file name pattern"),
        max_length=200,
        default="*",
        help_text=_("Shell pattern; {date} stands for the statement date as YYYYMMDD, e.g. wx_{date}*.csv"),
    )
    host = models.CharField(_("SFTP host"), max_length=255, blank=True)
    port = models.PositiveIntegerField(_("SFTP port"), default=22)
    username = models.CharField(_("SFTP user"), max_length=100, blank=True)
    # Secrets stay out of the database: the worker reads them from its environment or its disk.
    password_env = models.CharField(
        _("password variable"),
        max_length=100,
        blank=True,
        help_text=_("Name of the environment variable that holds the SFTP password on the workers."),
    )
    private_key_path = models.CharField(
        _("private key file"),
        max_length=500,
        blank=True,
        help_text=_("Path of the SFTP private key file on the workers."),
    )
    host_key = models.TextField(
        _("SFTP host key"),
        blank=True,
        help_text=_("The server's public key line (type and base64); connections to a server with another key are refused."),
    )
    fetch_time = models.TimeField(_("fetch at"), help_text=_("Daily, Asia/Shanghai time; change it here (the schedule follows)."))
    is_active = models.BooleanField(_("active"), default=True)
    last_fetched_at = models.DateTimeField(_("last fetched"), null=True, blank=True)
    last_result = models.TextField(_("last result"), blank=True)

    class Meta:
        verbose_name = _("statement source")
        verbose_name_plural = _("statement sources")
        constraints = [
            choices_check("kind", StatementKind, "statementsource_kind_valid"),
            choices_check("transport", Transport, "statementsource_transport_valid"),
            models.CheckConstraint(
                condition=Q(transport=Transport.DIRECTORY) | (~Q(host="") & ~Q(username="")),
                name="statementsource_sftp_has_host",
                violation_error_message=_("An SFTP source needs a host and a user."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel.code} {self.get_kind_display()} ← {self.get_transport_display()} {self.path}"
