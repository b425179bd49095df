"""What the API reads and answers: serializers of requests and of records."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from backoffice.core.api import MaskedModelSerializer
from reconciliation.models import (
    Action,
    Channel,
    PlatformTransaction,
    ReconciliationRun,
    RefundOrder,
    Resolution,
    RunStage,
    StatementFile,
    StatementKind,
)
from reconciliation.services.engine.runs import run_date_problem


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
        "conflicts": serializers.IntegerField(),
        "errors": serializers.ListField(child=serializers.DictField()),
    },
)


class StatementFileSerializer(MaskedModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

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


class StatementFileReceivedSerializer(StatementFileSerializer):
    waiting_for_broker = serializers.BooleanField(
        read_only=True,
        help_text="true when the job queue could not be reached: the file is kept and parsed once it is back",
    )

    class Meta(StatementFileSerializer.Meta):
        fields = (*StatementFileSerializer.Meta.fields, "waiting_for_broker")
        read_only_fields = fields


class StatementUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    channel = serializers.SlugRelatedField(slug_field="code", queryset=Channel.objects.filter(is_active=True))
    kind = serializers.ChoiceField(choices=StatementKind.choices, required=False)
    statement_date = serializers.DateField(required=False)


class RunSerializer(MaskedModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    started_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

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
    channel = serializers.SlugRelatedField(slug_field="code", queryset=Channel.objects.filter(is_active=True))
    business_date = serializers.DateField()
    stage = serializers.ChoiceField(choices=RunStage.choices, default=RunStage.TRANSACTION)

    def validate_business_date(self, day):
        problem = run_date_problem(day, today=timezone.localdate())
        if problem:
            raise serializers.ValidationError(problem)
        return day


class ProposeSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=Action.choices)
    reason = serializers.CharField()
    params = serializers.DictField(required=False, default=dict)


class PairSerializer(serializers.Serializer):
    """A manual pairing (手工勾兑): items of our side and of the channel's that are one payment."""

    discrepancies = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=2, max_length=50)
    reason = serializers.CharField()


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


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

    def get_items(self, resolution) -> list[int]:
        return sorted(resolution.items.values_list("discrepancy_id", flat=True))

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
    status = serializers.ChoiceField(choices=[RefundOrder.Status.SUCCEEDED, RefundOrder.Status.FAILED])
    channel_txn_no = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
