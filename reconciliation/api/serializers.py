"""What the API reads and answers: serializers of requests and of records."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from backoffice.core.api import MaskedModelSerializer
from backoffice.core.money import CURRENCY_CHOICES, MINOR_UNITS
from reconciliation.models import (
    Action,
    BusinessType,
    Channel,
    Discrepancy,
    PlatformTransaction,
    ReconciliationRun,
    RefundOrder,
    Resolution,
    RunStage,
    StatementFile,
    StatementKind,
    TransactionStatus,
)
from reconciliation.services.engine.runs import run_date_problem
from reconciliation.services.intake.messages import problems_shown

ID_MAX = 2**63 - 1  # ids are PostgreSQL bigints


@extend_schema_field({"type": "string", "minLength": 1, "pattern": r"\S"})
class TextField(serializers.CharField):
    """Text that must say something: DRF trims it, so whitespace alone is refused as blank (and the
    schema says so: at least one character that is not a space)."""


class PlatformTransactionSerializer(MaskedModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    merchant_no = serializers.CharField(source="merchant.merchant_no", default="", read_only=True)
    account_no = serializers.CharField(source="account.account_no", default="", read_only=True)
    original_txn_no = serializers.CharField(source="original.txn_no", default="", read_only=True)

    class Meta:
        model = PlatformTransaction
        fields = (
            "txn_no",
            "channel",
            "channel_txn_no",
            "business_type",
            "amount",
            "currency",
            "fee",
            "status",
            "created_at",
            "completed_at",
            "business_date",
            "merchant_no",
            "account_no",
            "batch_no",
            "original_txn_no",
            "counterparty_account",
            "counterparty_name",
            "order_no",
            "origin",
            "received_at",
            "updated_at",
        )
        read_only_fields = fields


BulkResult = inline_serializer(
    "TransactionBulkResult",
    {
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
        # Late records of supplemented (补单) orders that disagree with them: kept as conflicts to review,
        # without refusing the rest of the batch.
        "held": serializers.IntegerField(),
    },
)


BulkRefusal = inline_serializer(
    "TransactionBulkRefusal",
    {
        "detail": serializers.CharField(),
        # Absent when the request as a whole is refused (not a list, too many records).
        "conflicts": serializers.IntegerField(required=False, help_text="how many records conflict with ours"),
        "errors": serializers.ListField(
            required=False,
            child=inline_serializer(
                "TransactionRecordError",
                {
                    "ref": serializers.CharField(help_text='"item N", counted from 1'),
                    "field": serializers.CharField(allow_null=True),
                    "reason": serializers.CharField(),
                    "txn_no": serializers.CharField(),
                },
            ),
        ),
    },
)


StatementProblems = inline_serializer(
    "StatementProblem",
    {
        "line": serializers.IntegerField(allow_null=True, help_text="the line of the file; null when the problem has none"),
        "field": serializers.CharField(allow_null=True, help_text="the field (column, tag, setting); null when none"),
        "reason": serializers.CharField(help_text="what is wrong, in the request's language (Accept-Language)"),
        "code": serializers.CharField(
            allow_null=True, help_text="a stable code of the problem (e.g. value.not_amount); null for files refused before codes"
        ),
        "params": serializers.DictField(help_text="the values the reason names, by name (as shown in it)"),
    },
    many=True,
)


class StatementFileSerializer(MaskedModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    warnings = serializers.SerializerMethodField(help_text="what a clerk should know about the file (kept when it is refused)")
    errors = serializers.SerializerMethodField(help_text="why the file was refused (status FAILED)")
    currency = serializers.ChoiceField(
        choices=CURRENCY_CHOICES, allow_blank=True, read_only=True, help_text="empty until the file is parsed"
    )
    uploaded_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="null when taken in by the scheduled fetch"
    )

    class Meta:
        model = StatementFile
        fields = (
            "id",
            "channel",
            "kind",
            "statement_date",
            "format_code",
            "status",
            "progress_lines",
            "line_count",
            "currency",
            "totals",
            "warnings",
            "errors",
            "original_name",
            "size",
            "sha256",
            "source",
            "uploaded_by",
            "received_at",
            "parsed_at",
        )
        read_only_fields = fields

    @extend_schema_field(StatementProblems)
    def get_warnings(self, statement_file: StatementFile) -> list[dict]:
        return problems_shown(statement_file.warnings)

    @extend_schema_field(StatementProblems)
    def get_errors(self, statement_file: StatementFile) -> list[dict]:
        return problems_shown(statement_file.errors)


class StatementFileReceivedSerializer(StatementFileSerializer):
    waiting_for_broker = serializers.BooleanField(
        read_only=True,
        help_text="true when the job queue could not be reached: the file is kept and parsed once it is back",
    )

    class Meta(StatementFileSerializer.Meta):
        fields = (*StatementFileSerializer.Meta.fields, "waiting_for_broker")
        read_only_fields = fields


@extend_schema_field({"type": "string", "format": "binary"})
class UploadField(serializers.FileField):
    """The file's bytes, as a multipart/form-data part (the schema's binary string)."""


class StatementUploadSerializer(serializers.Serializer):
    file = UploadField(help_text="The statement file, at most STATEMENT_MAX_BYTES (413 beyond).")
    channel = serializers.SlugRelatedField(slug_field="code", queryset=Channel.objects.filter(is_active=True))
    kind = serializers.ChoiceField(choices=StatementKind.choices, required=False)
    statement_date = serializers.DateField(required=False)


class RunSerializer(MaskedModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    started_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="null for a scheduled run"
    )

    class Meta:
        model = ReconciliationRun
        fields = (
            "id",
            "channel",
            "business_date",
            "stage",
            "status",
            "phase",
            "trigger",
            "started_by",
            "counts",
            "created_at",
            "started_at",
            "finished_at",
            "error",
        )
        read_only_fields = fields


class RunRequestedSerializer(RunSerializer):
    waiting_for_broker = serializers.BooleanField(
        read_only=True,
        help_text="true when the job queue could not be reached: the run is kept and starts once it is back",
    )

    class Meta(RunSerializer.Meta):
        fields = (*RunSerializer.Meta.fields, "waiting_for_broker")
        read_only_fields = fields


class RunRequestSerializer(serializers.Serializer):
    channel = serializers.SlugRelatedField(
        slug_field="code", queryset=Channel.objects.filter(is_active=True), help_text="An active channel's code."
    )
    business_date = serializers.DateField(
        help_text="Not after today (Asia/Shanghai), not more than ten years ago, not before the channel's first fee model."
    )
    stage = serializers.ChoiceField(choices=RunStage.choices, default=RunStage.TRANSACTION)

    def validate_business_date(self, day):
        problem = run_date_problem(day, today=timezone.localdate())
        if problem:
            raise serializers.ValidationError(problem)
        return day

    def validate(self, data):
        problem = run_date_problem(data["business_date"], today=timezone.localdate(), channel=data["channel"])
        if problem:
            raise serializers.ValidationError({"business_date": [problem]})
        return data


class ProposeSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=Action.choices)
    reason = TextField(max_length=2000)
    params = serializers.DictField(
        required=False, default=dict, help_text="What the action needs (an adjustment's accounts, a write-off's side, …)."
    )


class PairSerializer(serializers.Serializer):
    """A manual pairing (手工勾兑): items of our side and of the channel's that are one payment."""

    discrepancies = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX), min_length=2, max_length=50
    )
    reason = TextField(max_length=2000)


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ApprovalSerializer(serializers.Serializer):
    level = serializers.IntegerField()
    decision = serializers.CharField()
    by = serializers.CharField()
    at = serializers.DateTimeField()
    comment = serializers.CharField()


class ResolutionSerializer(MaskedModelSerializer):
    proposed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approvals = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField(help_text="A manual pairing's discrepancies (empty for other actions).")

    class Meta:
        model = Resolution
        fields = (
            "id",
            "discrepancy",
            "action",
            "status",
            "reason",
            "params",
            "amount",
            "currency",
            "needs_second_approval",
            "proposed_by",
            "proposed_at",
            "decided_at",
            "executed_at",
            "outcome",
            "approvals",
            "items",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_items(self, resolution) -> list[int]:
        return sorted(resolution.items.values_list("discrepancy_id", flat=True))

    @extend_schema_field(ApprovalSerializer(many=True))
    def get_approvals(self, resolution) -> list[dict]:
        return [
            {"level": a.level, "decision": a.decision, "by": a.decided_by.username, "at": a.decided_at, "comment": a.comment}
            for a in resolution.approvals.select_related("decided_by").order_by("id")
        ]


class RefundOrderSerializer(MaskedModelSerializer):
    original_txn_no = serializers.CharField(source="original_txn.txn_no", default="", read_only=True)
    refund_txn_no = serializers.CharField(source="refund_txn.txn_no", default="", read_only=True)
    channel = serializers.CharField(source="resolution.discrepancy.channel.code", read_only=True)

    class Meta:
        model = RefundOrder
        fields = (
            "id",
            "refund_no",
            "channel",
            "original_txn_no",
            "original_channel_txn_no",
            "amount",
            "currency",
            "status",
            "created_at",
            "reported_at",
            "refund_txn_no",
        )
        read_only_fields = fields


class RefundOutcomeSerializer(serializers.Serializer):
    """What became of a refund order the payment core executed: once, SUCCEEDED or FAILED."""

    status = serializers.ChoiceField(choices=[RefundOrder.Status.SUCCEEDED, RefundOrder.Status.FAILED])
    channel_txn_no = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)


# --- The shapes the shared presenters answer (reconciliation/api/presenters.py), for the schema -------

_MONEY = {"allow_null": True, "help_text": "A decimal string on the currency's minor unit; null when not known."}


class DiscrepancySummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=Discrepancy.Type.choices)
    state = serializers.ChoiceField(choices=Discrepancy.State.choices)
    business_date = serializers.DateField()
    txn_no = serializers.CharField(help_text="Our transaction's number; empty when we have none.")
    channel_txn_no = serializers.CharField()
    related_txn_no = serializers.CharField()
    batch_no = serializers.CharField()
    platform_amount = serializers.CharField(**_MONEY)
    bank_amount = serializers.CharField(**_MONEY)
    bank_fee = serializers.CharField(**_MONEY)
    platform_fee = serializers.CharField(**_MONEY)
    expected_fee = serializers.CharField(**_MONEY)
    currency = serializers.CharField()
    effect = serializers.CharField(**_MONEY)
    direction = serializers.ChoiceField(choices=Discrepancy.Direction.choices, allow_null=True)


class RunOutcomeSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    channel = serializers.CharField()
    business_date = serializers.DateField()
    status = serializers.ChoiceField(choices=ReconciliationRun.Status.choices)
    error = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Records per outcome.")
    overage = serializers.CharField(**_MONEY)
    shortage = serializers.CharField(**_MONEY)
    discrepancies = DiscrepancySummarySerializer(many=True)


# --- The payment core's journal: the shape of a bulk request ------------------------------------------

_AMOUNT_PATTERN = r"^\s*\d{1,15}(\.\d{1,4})?\s*$"
_CASES = (str.lower, str.upper)


def _either_case(values) -> list[str]:
    return [case(v) for case in _CASES for v in values]


# The journal's choices, as the intake reads them (either case); named in SPECTACULAR_SETTINGS.
JOURNAL_CURRENCIES = _either_case(MINOR_UNITS)
JOURNAL_BUSINESS_TYPES = _either_case(BusinessType.values)
JOURNAL_STATUSES = _either_case(TransactionStatus.values)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "pattern": _AMOUNT_PATTERN},
            {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 999999999999999},
        ],
        "description": "A decimal string (preferred) or a JSON number, read exactly as a decimal: at most 15 digits "
        "before the point and 4 after.",
    }
)
class AmountField(serializers.Field):
    """An amount as the intake reads it (a decimal string, or a JSON number that our parser read as a
    Decimal), held to what the money columns store: 15 digits and 4 decimals. The service decides the rest
    (positive for an amount)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", not kwargs.get("required", True))
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        try:
            value = Decimal(data.strip() if isinstance(data, str) else data)
        except InvalidOperation:
            self.fail("invalid")
        if not value.is_finite():
            self.fail("invalid")
        sign, digits, exponent = value.as_tuple()
        decimals = max(0, -exponent)
        if decimals > 4 or len(digits) - decimals > 15:
            self.fail("digits")
        return data

    default_error_messages = {
        "invalid": 'must be a decimal string such as "100.00"',
        "digits": "at most 15 digits before the point and 4 after",
    }


class JournalDateTimeField(serializers.DateTimeField):
    """ISO 8601 (or "YYYY-MM-DD HH:MM:SS", Asia/Shanghai when no offset is given), within what the
    database stores once turned into UTC."""

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            self.fail("invalid", format="ISO 8601")
        if parsed.year < 1900:
            self.fail("invalid", format="ISO 8601, from the year 1900")
        return value


def _text(max_length: int, **kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, required=False, allow_blank=True, allow_null=True, **kwargs)


class TransactionItemSerializer(serializers.Serializer):
    """One record of the payment core's journal, as POST /api/transactions/bulk/ takes it: the published shape
    (types, lengths, choices). The intake service checks it, together with the rules, over the whole batch in
    PostgreSQL (reconciliation/services/intake/transactions.py, journal_sql.py): channel known, amount positive
    with at most 4 decimals, status only forward, fill-once fields, a refund names its original. Each error
    names the item and the field."""

    txn_no = TextField(max_length=64, help_text="Our transaction number: the idempotency key.")
    channel = TextField(max_length=32, help_text="The channel's code.")
    business_type = serializers.ChoiceField(choices=JOURNAL_BUSINESS_TYPES, help_text="Either case.")
    amount = AmountField(help_text="Positive; the business type carries the direction.")
    currency = serializers.ChoiceField(choices=JOURNAL_CURRENCIES, help_text="ISO 4217; the channel's.")
    status = serializers.ChoiceField(choices=JOURNAL_STATUSES, help_text="Either case.")
    created_at = JournalDateTimeField()
    business_date = serializers.DateField()
    completed_at = JournalDateTimeField(required=False, allow_null=True)
    fee = AmountField(required=False, help_text="Our recorded fee, when we know it.")
    channel_txn_no = _text(64, help_text="The channel's number; filled once.")
    merchant_no = _text(32)
    account_no = _text(40)
    batch_no = _text(64)
    original_txn_no = _text(64, help_text="A refund's original transaction (required for a refund, only for one).")
    counterparty_account = _text(64)
    counterparty_name = _text(200)
    order_no = _text(64)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return super().to_internal_value(data)


class TransactionBulkRequestSerializer(serializers.Serializer):
    transactions = TransactionItemSerializer(many=True, min_length=1, max_length=10000)
