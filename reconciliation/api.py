"""REST API for the payment core: transaction records in, statements in, results out. Thin: each view
validates its input, calls one service, and maps domain errors to HTTP answers."""

from __future__ import annotations

import django_filters
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from backoffice.api import UpsertPermissions
from reconciliation.models import (
    Channel,
    PlatformTransaction,
    StatementFile,
    StatementKind,
    TransactionConflict,
)
from reconciliation.services.ingest import StatementRefused, statement_receive
from reconciliation.services.transactions import (
    TransactionBatchRefused,
    transaction_input_read,
    transactions_upsert,
)
from reconciliation.tasks import statement_parse_task

MAX_BATCH = 10000


class PlatformTransactionSerializer(serializers.ModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    merchant_no = serializers.CharField(source="merchant.merchant_no", default="", read_only=True)
    account_no = serializers.CharField(source="account.account_no", default="", read_only=True)
    original_txn_no = serializers.CharField(source="original.txn_no", default="", read_only=True)

    class Meta:
        model = PlatformTransaction
        fields = (
            "txn_no", "channel", "channel_txn_no", "business_type", "amount", "currency", "fee", "status", "created_at",
            "completed_at", "business_date", "merchant_no", "account_no", "batch_no", "original_txn_no",
            "counterparty_account", "counterparty_name", "received_at", "updated_at",
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


BulkResult = inline_serializer("TransactionBulkResult", {
    "created": serializers.IntegerField(), "updated": serializers.IntegerField(), "unchanged": serializers.IntegerField(),
})
BulkRefusal = inline_serializer("TransactionBulkRefusal", {
    "detail": serializers.CharField(), "conflicts": serializers.IntegerField(),
    "errors": serializers.ListField(child=serializers.DictField()),
})


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
            return Response({"detail": "send {\"transactions\": [ ... ]} with at least one record"}, status=400)
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
                inputs=inputs, invalid=invalid, source=TransactionConflict.Source.API, acting_user=request.user,
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
            "id", "channel", "kind", "statement_date", "format_code", "status", "progress_lines", "line_count",
            "currency", "totals", "warnings", "errors", "original_name", "size", "sha256", "source", "uploaded_by",
            "received_at", "parsed_at",
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


class StatementFileViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                           viewsets.GenericViewSet):
    """Statement files. POST a file to take it in; it is parsed in the background (poll its status)."""

    serializer_class = StatementFileSerializer
    filterset_class = StatementFileFilter
    parser_classes = (MultiPartParser, FormParser)
    queryset = StatementFile.objects.select_related("channel", "uploaded_by").order_by("-id")

    @extend_schema(request={"multipart/form-data": StatementUploadSerializer},
                   responses={201: StatementFileSerializer, 400: OpenApiResponse(description="refused, with the reason")})
    def create(self, request, *args, **kwargs):
        upload = StatementUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        try:
            with transaction.atomic():
                statement_file = statement_receive(
                    channel=data["channel"], content=data["file"], original_name=data["file"].name,
                    source=StatementFile.Source.API, acting_user=request.user, now=timezone.now(),
                    kind=data.get("kind"), statement_date=data.get("statement_date"),
                )
                transaction.on_commit(lambda: statement_parse_task.delay(statement_file_id=statement_file.pk))
        except StatementRefused as exc:
            body = {"detail": str(exc), "line": exc.line, "field": exc.field}
            if exc.duplicate_of is not None:
                body["duplicate_of"] = exc.duplicate_of.pk
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        statement_file.refresh_from_db()
        return Response(StatementFileSerializer(statement_file).data, status=status.HTTP_201_CREATED)
