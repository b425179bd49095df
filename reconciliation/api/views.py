"""REST API for the payment core: transaction records in, statements in, results out. Thin: each view
validates its input, calls one service, and maps domain errors to HTTP answers."""

from __future__ import annotations

import django_filters
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from backoffice.core.api import ChangePermissions, DecimalJSONParser, UpsertPermissions
from reconciliation.api.presenters import discrepancy_summary, run_summary
from reconciliation.models import (
    Action,
    Channel,
    Discrepancy,
    PlatformTransaction,
    ReconciliationRun,
    RefundOrder,
    Resolution,
    StatementFile,
    StatementKind,
    TransactionConflict,
)
from reconciliation.services.engine.runs import RunAlreadyActive, run_start
from reconciliation.services.intake.statements import StatementRefused, statement_receive
from reconciliation.services.intake.transactions import (
    TransactionBatchRefused,
    transaction_input_read,
    transactions_upsert,
)
from reconciliation.services.workflow.resolution import (
    AlreadyDecided,
    WorkflowRefused,
    discrepancy_propose,
    refund_order_report,
    resolution_approve,
    resolution_reject,
)

MAX_BATCH = 10000


class PlatformTransactionSerializer(serializers.ModelSerializer):
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
            "received_at",
            "updated_at",
        )
        read_only_fields = fields


class TransactionFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code")
    business_date = django_filters.DateFilter()
    business_date_from = django_filters.DateFilter(field_name="business_date", lookup_expr="gte")
    business_date_to = django_filters.DateFilter(field_name="business_date", lookup_expr="lte")
    status = django_filters.ChoiceFilter(choices=PlatformTransaction.Status.choices)
    business_type = django_filters.CharFilter()
    channel_txn_no = django_filters.CharFilter()
    batch_no = django_filters.CharFilter()

    class Meta:
        model = PlatformTransaction
        fields = ("channel", "business_date", "status", "business_type", "channel_txn_no", "batch_no")


BulkResult = inline_serializer(
    "TransactionBulkResult",
    {
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
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


class TransactionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Our transaction records. Pushed in bulk by the payment core; idempotent on txn_no."""

    serializer_class = PlatformTransactionSerializer
    filterset_class = TransactionFilter
    lookup_field = "txn_no"
    queryset = PlatformTransaction.objects.select_related("channel", "merchant", "account", "original").order_by("id")

    @extend_schema(
        request=inline_serializer(
            "TransactionBulkRequest", {"transactions": serializers.ListField(child=serializers.DictField())}
        ),
        responses={200: BulkResult, 400: BulkRefusal, 409: BulkRefusal},
        description=(
            "Create or move forward up to 10,000 records, all or nothing. Amounts are decimal strings (JSON numbers are "
            "read exactly as decimals). Status only moves forward (processing/unknown -> success/failed); a conflicting "
            "change is refused with 409 and recorded."
        ),
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        items = request.data.get("transactions") if isinstance(request.data, dict) else request.data
        if not isinstance(items, list) or not items:
            return Response({"detail": 'send {"transactions": [ ... ]} with at least one record'}, status=400)
        if len(items) > MAX_BATCH:
            return Response({"detail": f"at most {MAX_BATCH} records per request, got {len(items)}"}, status=400)
        inputs, invalid = [], []
        for index, item in enumerate(items, 1):
            if not isinstance(item, dict):
                return Response({"detail": f"item {index} is not an object"}, status=400)
            record, errors = transaction_input_read(item, ref=f"item {index}")
            invalid.extend(errors)
            if record:
                inputs.append(record)
        try:
            result = transactions_upsert(
                inputs=inputs,
                invalid=invalid,
                source=TransactionConflict.Source.API,
                acting_user=request.user,
                now=timezone.now(),
            )
        except TransactionBatchRefused as exc:
            return Response(
                {"detail": str(exc), "conflicts": exc.conflicts, "errors": [e.as_dict() for e in exc.errors]},
                status=status.HTTP_409_CONFLICT if exc.conflicts else status.HTTP_400_BAD_REQUEST,
            )
        return Response(result.as_dict())

    def get_permissions(self):
        if self.action == "bulk":
            return [UpsertPermissions()]
        return super().get_permissions()


class StatementFileSerializer(serializers.ModelSerializer):
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


class StatementUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    channel = serializers.SlugRelatedField(slug_field="code", queryset=Channel.objects.filter(is_active=True))
    kind = serializers.ChoiceField(choices=StatementKind.choices, required=False)
    statement_date = serializers.DateField(required=False)


class StatementFileFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code")
    statement_date = django_filters.DateFilter()
    status = django_filters.ChoiceFilter(choices=StatementFile.Status.choices)
    kind = django_filters.ChoiceFilter(choices=StatementKind.choices)

    class Meta:
        model = StatementFile
        fields = ("channel", "statement_date", "status", "kind")


class StatementFileViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Statement files. POST a file to take it in; it is parsed in the background (poll its status)."""

    serializer_class = StatementFileSerializer
    filterset_class = StatementFileFilter
    parser_classes = (MultiPartParser, FormParser)
    queryset = StatementFile.objects.select_related("channel", "uploaded_by").order_by("-id")

    @extend_schema(
        request={"multipart/form-data": StatementUploadSerializer},
        responses={201: StatementFileSerializer, 400: OpenApiResponse(description="refused, with the reason")},
    )
    def create(self, request, *args, **kwargs):
        upload = StatementUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        try:
            with transaction.atomic():
                statement_file = statement_receive(
                    channel=data["channel"],
                    content=data["file"],
                    original_name=data["file"].name,
                    source=StatementFile.Source.API,
                    acting_user=request.user,
                    now=timezone.now(),
                    kind=data.get("kind"),
                    statement_date=data.get("statement_date"),
                    parse_later=True,
                )
        except StatementRefused as exc:
            body = {"detail": str(exc), "line": exc.line, "field": exc.field}
            if exc.duplicate_of is not None:
                body["duplicate_of"] = exc.duplicate_of.pk
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        statement_file.refresh_from_db()
        return Response(StatementFileSerializer(statement_file).data, status=status.HTTP_201_CREATED)


class RunSerializer(serializers.ModelSerializer):
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


class RunRequestSerializer(serializers.Serializer):
    channel = serializers.SlugRelatedField(slug_field="code", queryset=Channel.objects.filter(is_active=True))
    business_date = serializers.DateField()


class RunFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code")
    business_date = django_filters.DateFilter()
    status = django_filters.ChoiceFilter(choices=ReconciliationRun.Status.choices)

    class Meta:
        model = ReconciliationRun
        fields = ("channel", "business_date", "status")


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Reconciliation runs. POST requests a run (a worker executes it); GET a run for its outcome."""

    serializer_class = RunSerializer
    filterset_class = RunFilter
    parser_classes = (DecimalJSONParser, FormParser)
    queryset = ReconciliationRun.objects.select_related("channel", "started_by").order_by("-id")

    @extend_schema(
        request=RunRequestSerializer, responses={202: RunSerializer, 409: OpenApiResponse(description="a run is active")}
    )
    def create(self, request, *args, **kwargs):
        data = RunRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                run = run_start(
                    channel=data.validated_data["channel"],
                    business_date=data.validated_data["business_date"],
                    trigger=ReconciliationRun.Trigger.API,
                    acting_user=request.user,
                    now=timezone.now(),
                )
        except RunAlreadyActive as exc:
            return Response({"detail": str(exc), "run_id": exc.run.pk}, status=status.HTTP_409_CONFLICT)
        run.refresh_from_db()
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={200: OpenApiResponse(description="the run with its discrepancies, as `manage.py reconcile --json`")}
    )
    @action(detail=True, methods=["get"])
    def outcome(self, request, pk=None):
        return Response(run_summary(self.get_object()))


class DiscrepancyFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code")
    business_date = django_filters.DateFilter()
    business_date_from = django_filters.DateFilter(field_name="business_date", lookup_expr="gte")
    business_date_to = django_filters.DateFilter(field_name="business_date", lookup_expr="lte")
    type = django_filters.ChoiceFilter(choices=Discrepancy.Type.choices)
    state = django_filters.ChoiceFilter(choices=Discrepancy.State.choices)
    direction = django_filters.ChoiceFilter(choices=Discrepancy.Direction.choices)
    run = django_filters.NumberFilter(field_name="run_id")

    class Meta:
        model = Discrepancy
        fields = ("channel", "business_date", "type", "state", "direction", "run")


class DiscrepancyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    filterset_class = DiscrepancyFilter
    queryset = Discrepancy.objects.select_related("platform_txn", "statement_line", "related_txn", "channel").order_by("-id")

    def get_serializer_class(self):
        return serializers.Serializer  # responses are built by the shared presenter

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([discrepancy_summary(d) for d in page])

    def retrieve(self, request, *args, **kwargs):
        return Response(discrepancy_summary(self.get_object()))


# --- The resolution workflow: the same service rules as the screens ----------------------------------


class ProposeSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=Action.choices)
    reason = serializers.CharField()
    params = serializers.DictField(required=False, default=dict)


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ResolutionSerializer(serializers.ModelSerializer):
    proposed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approvals = serializers.SerializerMethodField()

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
        )
        read_only_fields = fields

    def get_approvals(self, resolution) -> list[dict]:
        return [
            {"level": a.level, "decision": a.decision, "by": a.decided_by.username, "at": a.decided_at, "comment": a.comment}
            for a in resolution.approvals.select_related("decided_by").order_by("id")
        ]


def _workflow_error(exc: WorkflowRefused) -> Response:
    # 409 when somebody else got there first; 400 when the rules refuse the request itself.
    return Response(
        {"detail": str(exc)}, status=status.HTTP_409_CONFLICT if isinstance(exc, AlreadyDecided) else status.HTTP_400_BAD_REQUEST
    )


def _source(request) -> str:
    return f"API {request.META.get('REMOTE_ADDR', '')}".strip()


class WorkflowPermission(permissions.IsAuthenticated):
    """Signed in; what each person may do is decided by the workflow service."""


@extend_schema(request=ProposeSerializer, responses={201: ResolutionSerializer})
@api_view(["POST"])
@permission_classes([WorkflowPermission])
def discrepancy_propose_api(request, pk: int):
    data = ProposeSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    discrepancy = get_object_or_404(Discrepancy, pk=pk)
    try:
        resolution = discrepancy_propose(
            discrepancy=discrepancy,
            action=data.validated_data["action"],
            reason=data.validated_data["reason"],
            params=data.validated_data["params"],
            acting_user=request.user,
            now=timezone.now(),
            source=_source(request),
        )
    except WorkflowRefused as exc:
        return _workflow_error(exc)
    return Response(ResolutionSerializer(resolution).data, status=status.HTTP_201_CREATED)


def _decide(request, pk: int, decide) -> Response:
    data = DecisionSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    resolution = get_object_or_404(Resolution, pk=pk)
    try:
        resolution = decide(
            resolution=resolution,
            comment=data.validated_data["comment"],
            acting_user=request.user,
            now=timezone.now(),
            source=_source(request),
        )
    except WorkflowRefused as exc:
        return _workflow_error(exc)
    resolution.refresh_from_db()
    return Response(ResolutionSerializer(resolution).data)


@extend_schema(request=DecisionSerializer, responses={200: ResolutionSerializer})
@api_view(["POST"])
@permission_classes([WorkflowPermission])
def resolution_approve_api(request, pk: int):
    return _decide(request, pk, resolution_approve)


@extend_schema(request=DecisionSerializer, responses={200: ResolutionSerializer})
@api_view(["POST"])
@permission_classes([WorkflowPermission])
def resolution_reject_api(request, pk: int):
    return _decide(request, pk, resolution_reject)


class RefundOrderSerializer(serializers.ModelSerializer):
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


class RefundOrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Refund orders for the payment core to execute (filter ?status=PENDING); it reports each outcome."""

    serializer_class = RefundOrderSerializer
    queryset = RefundOrder.objects.select_related("original_txn", "refund_txn", "resolution__discrepancy__channel").order_by("id")
    filterset_fields = ("status",)

    @extend_schema(request=RefundOutcomeSerializer, responses={200: RefundOrderSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermissions])
    def outcome(self, request, pk=None):
        data = RefundOutcomeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            order = refund_order_report(
                order=self.get_object(),
                succeeded=data.validated_data["status"] == RefundOrder.Status.SUCCEEDED,
                channel_txn_no=data.validated_data["channel_txn_no"],
                acting_user=request.user,
                now=timezone.now(),
                source=_source(request),
            )
        except WorkflowRefused as exc:
            return _workflow_error(exc)
        return Response(RefundOrderSerializer(order).data)
