"""REST API for the payment core: transaction records in, statements in, results out. Thin: each view
validates its input, calls one service, and maps domain errors to HTTP answers."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from backoffice.core.api import ChangePermissions, DecimalJSONParser, UpsertPermissions
from backoffice.core.openapi import ERROR_SCHEMA
from backoffice.core.uploads import upload_refusal
from reconciliation.api.presenters import discrepancy_summary, run_summary
from reconciliation.api.serializers import (
    BulkRefusal,
    BulkResult,
    DecisionSerializer,
    DiscrepancySummarySerializer,
    PairSerializer,
    PlatformTransactionSerializer,
    ProposeSerializer,
    RefundOrderSerializer,
    RefundOutcomeSerializer,
    ResolutionSerializer,
    RunOutcomeSerializer,
    RunRequestedSerializer,
    RunRequestSerializer,
    RunSerializer,
    StatementFileReceivedSerializer,
    StatementFileSerializer,
    StatementUploadSerializer,
    TransactionBulkRequestSerializer,
)
from reconciliation.filters import (
    DiscrepancyFilter,
    RefundOrderFilter,
    RunFilter,
    StatementFileFilter,
    TransactionFilter,
)
from reconciliation.models import (
    Discrepancy,
    ReconciliationRun,
    RefundOrder,
    Resolution,
    StatementFile,
    TransactionConflict,
)
from reconciliation.selectors.discrepancies import discrepancies
from reconciliation.selectors.runs import runs
from reconciliation.selectors.statements import statement_files
from reconciliation.selectors.transactions import transactions
from reconciliation.services.engine.runs import RunAlreadyActive, run_start
from reconciliation.services.intake.statements import StatementRefused, statement_receive
from reconciliation.services.intake.transactions import TransactionBatchRefused, transactions_receive
from reconciliation.services.jobs import Job, queued_not_sent
from reconciliation.services.workflow.pairing import discrepancies_pair
from reconciliation.services.workflow.resolution import (
    AlreadyDecided,
    WorkflowForbidden,
    WorkflowRefused,
    discrepancy_propose,
    refund_order_report,
    resolution_approve,
    resolution_reject,
    step_require,
)

MAX_BATCH = 10000

WORKFLOW_CONFLICT = OpenApiResponse(ERROR_SCHEMA, description="somebody decided or changed it first")
# A statement refused: the reason with where in the file (line, field) and the file it duplicates; or,
# when the form itself is wrong, each form field named with its messages.
STATEMENT_REFUSAL = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "line": {"type": "integer", "nullable": True, "description": "the line of the file, when the problem is in it"},
        "field": {"type": "string", "nullable": True},
        "duplicate_of": {"type": "integer", "description": "the statement file already taken in"},
        "code": {
            "type": "string",
            "description": "a stable code of the problem when it was found reading the file (e.g. file.personal_wechat_bill)",
        },
        "params": {"type": "object", "description": "the values the reason names, with the code"},
    },
    "additionalProperties": True,
}
RunActive = inline_serializer("RunActive", {"detail": serializers.CharField(), "run_id": serializers.IntegerField()})


class TransactionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Our transaction records. Pushed in bulk by the payment core; idempotent on txn_no."""

    serializer_class = PlatformTransactionSerializer
    filterset_class = TransactionFilter
    lookup_field = "txn_no"
    queryset = transactions()

    @extend_schema(
        request=TransactionBulkRequestSerializer,
        responses={
            200: BulkResult,
            400: OpenApiResponse(BulkRefusal, description="refused, nothing written: each error names the item and field"),
            409: OpenApiResponse(BulkRefusal, description="a record conflicts with what we hold; recorded, nothing written"),
        },
        description=(
            "Create or move forward up to 10,000 records, all or nothing, idempotent on txn_no. Amounts are decimal "
            "strings (JSON numbers are read exactly as decimals). Status only moves forward (processing/unknown -> "
            "success/failed); fields filled once keep their value; a conflicting change is refused with 409 and "
            "recorded. Unknown fields are refused. See docs/api.md."
        ),
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        items = request.data.get("transactions") if isinstance(request.data, dict) else request.data
        if isinstance(request.data, dict) and set(request.data) - {"transactions"}:
            unknown = ", ".join(sorted(map(str, set(request.data) - {"transactions"})))
            return Response({"detail": f'unknown field(s): {unknown}; send {{"transactions": [ ... ]}}'}, status=400)
        if not isinstance(items, list) or not items:
            return Response({"detail": 'send {"transactions": [ ... ]} with at least one record'}, status=400)
        if len(items) > MAX_BATCH:
            return Response({"detail": f"at most {MAX_BATCH} records per request, got {len(items)}"}, status=400)
        for index, item in enumerate(items, 1):
            if not isinstance(item, dict):
                return Response({"detail": f"item {index} is not an object"}, status=400)
        try:
            # Shapes, values and rules are all checked by the intake service, each error naming item and field.
            result = transactions_receive(
                records=items,
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


class StatementFileViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Statement files. POST a file to take it in; it is parsed in the background (poll its status)."""

    serializer_class = StatementFileSerializer
    filterset_class = StatementFileFilter
    # A file only travels as multipart/form-data; any other body is refused with 415.
    parser_classes = (MultiPartParser,)
    queryset = statement_files()

    @extend_schema(
        request={"multipart/form-data": StatementUploadSerializer},
        responses={
            201: StatementFileReceivedSerializer,
            400: OpenApiResponse(STATEMENT_REFUSAL, description="refused, with the reason (and the line and field in the file)"),
            413: OpenApiResponse(
                ERROR_SCHEMA, description="the file is bigger than STATEMENT_MAX_BYTES (cut off while uploading)"
            ),
        },
    )
    def create(self, request, *args, **kwargs):
        refusal = upload_refusal(request)
        if refusal is not None:
            return Response({"detail": refusal}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
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
            if exc.problem is not None:
                body.update(code=exc.problem["code"], params=exc.problem["params"])
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        statement_file.refresh_from_db()
        statement_file.waiting_for_broker = queued_not_sent(Job.STATEMENT_PARSE, statement_file_id=statement_file.pk)
        return Response(StatementFileReceivedSerializer(statement_file).data, status=status.HTTP_201_CREATED)


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Reconciliation runs. POST requests a run (a worker executes it); GET a run for its outcome."""

    serializer_class = RunSerializer
    filterset_class = RunFilter
    parser_classes = (DecimalJSONParser, FormParser)
    queryset = runs()

    @extend_schema(
        request=RunRequestSerializer,
        responses={
            202: RunRequestedSerializer,
            409: OpenApiResponse(RunActive, description="a run of this channel and date is already active: its id"),
        },
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
                    stage=data.validated_data["stage"],
                )
        except RunAlreadyActive as exc:
            return Response({"detail": str(exc), "run_id": exc.run.pk}, status=status.HTTP_409_CONFLICT)
        run.refresh_from_db()
        run.waiting_for_broker = queued_not_sent(Job.RUN_EXECUTE, run_id=run.pk)
        return Response(RunRequestedSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={
            200: OpenApiResponse(
                RunOutcomeSerializer, description="the run with its discrepancies, as `manage.py reconcile --json`"
            )
        }
    )
    @action(detail=True, methods=["get"])
    def outcome(self, request, pk=None, format=None):  # noqa: A002 (the router passes the suffix as format)
        return Response(run_summary(self.get_object()))


class DiscrepancyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Discrepancies, each as the shared presenter shows it (``discrepancy_summary``); the serializer
    only describes that shape for the schema."""

    filterset_class = DiscrepancyFilter
    queryset = discrepancies()
    serializer_class = DiscrepancySummarySerializer

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([discrepancy_summary(d) for d in page])

    def retrieve(self, request, *args, **kwargs):
        return Response(discrepancy_summary(self.get_object()))


# --- The resolution workflow: the same service rules as the screens ----------------------------------


def _workflow_error(exc: WorkflowRefused) -> Response:
    # 403 when the role may not take the step at all; 409 when somebody else got there first; 400 when the
    # rules refuse the request itself.
    if isinstance(exc, WorkflowForbidden):
        return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    return Response(
        {"detail": str(exc)}, status=status.HTTP_409_CONFLICT if isinstance(exc, AlreadyDecided) else status.HTTP_400_BAD_REQUEST
    )


def step_permission(step: str) -> type[permissions.BasePermission]:
    """Signed in, and the role may take this workflow step at all (403 with the reason otherwise); the finer
    rules (another person, the threshold, the state) are the workflow service's."""

    class StepPermission(permissions.IsAuthenticated):
        def has_permission(self, request, view) -> bool:
            if not super().has_permission(request, view):
                return False
            try:
                step_require(request.user, step)
            except WorkflowForbidden as exc:
                self.message = str(exc)
                return False
            return True

    return StepPermission


def _source(request) -> str:
    return f"API {request.META.get('REMOTE_ADDR', '')}".strip()


@extend_schema(request=ProposeSerializer, responses={201: ResolutionSerializer, 409: WORKFLOW_CONFLICT})
@api_view(["POST"])
@permission_classes([step_permission("propose")])
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


@extend_schema(
    request=PairSerializer,
    responses={
        201: ResolutionSerializer,
        404: OpenApiResponse(ERROR_SCHEMA, description="a discrepancy named does not exist"),
        409: WORKFLOW_CONFLICT,
    },
)
@api_view(["POST"])
@permission_classes([step_permission("pair")])
def discrepancies_pair_api(request):
    """Propose a manual pairing; a checker approves or rejects it like any proposal."""
    data = PairSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    wanted = set(data.validated_data["discrepancies"])
    found = list(Discrepancy.objects.filter(pk__in=wanted))
    if len(found) != len(wanted):
        missing = sorted(wanted - {d.pk for d in found})
        return Response({"detail": f"no such discrepancy: {', '.join(map(str, missing))}"}, status=status.HTTP_404_NOT_FOUND)
    try:
        resolution = discrepancies_pair(
            discrepancies=found,
            reason=data.validated_data["reason"],
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


@extend_schema(request=DecisionSerializer, responses={200: ResolutionSerializer, 409: WORKFLOW_CONFLICT})
@api_view(["POST"])
@permission_classes([step_permission("approve")])
def resolution_approve_api(request, pk: int):
    return _decide(request, pk, resolution_approve)


@extend_schema(request=DecisionSerializer, responses={200: ResolutionSerializer, 409: WORKFLOW_CONFLICT})
@api_view(["POST"])
@permission_classes([step_permission("reject")])
def resolution_reject_api(request, pk: int):
    return _decide(request, pk, resolution_reject)


class RefundOrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Refund orders for the payment core to execute (filter ?status=PENDING); it reports each outcome."""

    serializer_class = RefundOrderSerializer
    queryset = RefundOrder.objects.select_related("original_txn", "refund_txn", "resolution__discrepancy__channel").order_by("id")
    filterset_class = RefundOrderFilter

    @extend_schema(request=RefundOutcomeSerializer, responses={200: RefundOrderSerializer, 409: WORKFLOW_CONFLICT})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermissions])
    def outcome(self, request, pk=None, format=None):  # noqa: A002 (the router passes the suffix as format)
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
