"""Clerk screens for statements: the list, the upload with its live progress, a file's detail."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods

from backoffice.masking import can_view_personal_data, mask_account_number
from reconciliation import parsers, selectors
from reconciliation.forms import (
    DiscrepancyFilterForm,
    RunFilterForm,
    RunStartForm,
    StatementFilterForm,
    StatementUploadForm,
)
from reconciliation.models import (
    Discrepancy,
    FundMovement,
    ReconciliationRun,
    StatementFile,
    StatementKind,
    StatementLine,
)
from reconciliation.services.ingest import StatementRefused, statement_receive
from reconciliation.services.runs import RunAlreadyActive, run_start
from reconciliation.tasks import statement_parse_task

LIST_PAGE_SIZE = 50
LINES_PAGE_SIZE = 100
# Raw source fields that hold a person's account or card number (masked without the permission).
PERSONAL_RAW_FIELDS = {"帐号", "对方账号", "对方账户", "对方账号名称", "付款账号", "收款账号", "用户标识"}
PERSONAL_RAW_SUFFIXES = ("DbtrAcct/Id/IBAN", "CdtrAcct/Id/IBAN", "DbtrAcct/Id/Othr/Id", "CdtrAcct/Id/Othr/Id")


@permission_required("reconciliation.view_statementfile", raise_exception=True)
def statement_list(request):
    form = StatementFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = Paginator(selectors.statement_files(filters=filters), LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reconciliation/statement_list.html", {
        "form": form, "page": page, "query": query.urlencode(),
    })


@permission_required("reconciliation.add_statementfile", raise_exception=True)
@require_http_methods(["GET", "POST"])
def statement_upload(request):
    """Take in several files at once; each is parsed by a worker while the page shows its progress."""
    results: list[dict] = []
    if request.method == "POST":
        form = StatementUploadForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            for upload in data["files"]:
                try:
                    with transaction.atomic():
                        statement_file = statement_receive(
                            channel=data["channel"], content=upload, original_name=upload.name,
                            source=StatementFile.Source.UPLOAD, acting_user=request.user, now=timezone.now(),
                            kind=data["kind"] or None, statement_date=data["statement_date"],
                        )
                        transaction.on_commit(
                            lambda pk=statement_file.pk: statement_parse_task.delay(statement_file_id=pk)
                        )
                    results.append({"name": upload.name, "file": statement_file})
                except StatementRefused as exc:
                    results.append({"name": upload.name, "error": str(exc), "duplicate_of": exc.duplicate_of})
            for result in results:
                if result.get("file"):
                    result["file"].refresh_from_db()
            form = StatementUploadForm(initial={"channel": data["channel"], "kind": data["kind"]})
    else:
        form = StatementUploadForm()
    template = "reconciliation/_upload_results.html" if request.htmx else "reconciliation/statement_upload.html"
    return render(request, template, {"form": form, "results": results})


@permission_required("reconciliation.view_statementfile", raise_exception=True)
def statement_progress(request, pk: int):
    """The progress fragment of one file; it keeps polling itself until the file is parsed or failed."""
    statement_file = get_object_or_404(StatementFile.objects.select_related("channel"), pk=pk)
    return render(request, "reconciliation/_statement_progress.html", {"f": statement_file})


def _raw_pairs(statement_file: StatementFile, raw: str, user) -> list[tuple[str, str]]:
    try:
        pairs = parsers.raw_fields(statement_file.format_code, raw, statement_file.metadata.get("raw_columns", []))
    except Exception:  # a display aid only: never fail the page over it
        return [("", raw)]
    if can_view_personal_data(user):
        return pairs
    return [
        (name, mask_account_number(value) if name in PERSONAL_RAW_FIELDS or name.endswith(PERSONAL_RAW_SUFFIXES) else value)
        for name, value in pairs
    ]


@permission_required("reconciliation.view_statementfile", raise_exception=True)
def statement_detail(request, pk: int):
    statement_file = get_object_or_404(
        StatementFile.objects.select_related("channel", "uploaded_by", "bank_account__bank", "statement_format"), pk=pk
    )
    if statement_file.kind == StatementKind.BUSINESS:
        rows = StatementLine.objects.filter(file=statement_file).order_by("line_no")
    else:
        rows = FundMovement.objects.filter(file=statement_file).select_related("bank_account").order_by("line_no")
    page = Paginator(rows, LINES_PAGE_SIZE).get_page(request.GET.get("page"))
    personal = can_view_personal_data(request.user)
    for row in page.object_list:
        row.raw_pairs = _raw_pairs(statement_file, row.raw, request.user)
        if isinstance(row, FundMovement) and not personal:
            row.counterparty_account = mask_account_number(row.counterparty_account)
    return render(request, "reconciliation/statement_detail.html", {
        "f": statement_file, "page": page, "business": statement_file.kind == StatementKind.BUSINESS,
    })



# --- Reconciliation runs -------------------------------------------------------------------------

CHART_DAYS = 14


@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
def run_list(request):
    form = RunFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = Paginator(selectors.runs(filters=filters), LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    start_form = RunStartForm(initial={"business_date": timezone.localdate() - timedelta(days=1)})
    return render(request, "reconciliation/run_list.html", {
        "form": form, "page": page, "query": query.urlencode(), "start_form": start_form,
    })


@permission_required("reconciliation.add_reconciliationrun", raise_exception=True)
@require_http_methods(["POST"])
def run_request(request):
    form = RunStartForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a channel and a business date."))
        return redirect("reconciliation:run_list")
    try:
        with transaction.atomic():
            run = run_start(
                channel=form.cleaned_data["channel"], business_date=form.cleaned_data["business_date"],
                trigger=ReconciliationRun.Trigger.CLERK, acting_user=request.user, now=timezone.now(),
            )
    except RunAlreadyActive as exc:
        messages.warning(request, _("A run of this channel and date is already waiting or running; here it is."))
        return redirect("reconciliation:run_detail", pk=exc.run.pk)
    messages.success(request, _("Reconciliation requested; this page follows its progress."))
    return redirect("reconciliation:run_detail", pk=run.pk)


@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
def run_detail(request, pk: int):
    run = get_object_or_404(ReconciliationRun.objects.select_related("channel", "started_by"), pk=pk)
    outcomes = [
        {
            "key": key, "label": _outcome_label(key), "count": values["count"], "amount": values["amount"],
            "is_discrepancy": "overage" in values,
            "overage": Decimal(values.get("overage", "0")) or None, "shortage": Decimal(values.get("shortage", "0")) or None,
        }
        for key, values in sorted(run.counts.get("outcomes", {}).items(), key=lambda kv: _OUTCOME_ORDER.get(kv[0], 99))
    ]
    superseded_by = (
        ReconciliationRun.objects.filter(channel=run.channel, business_date=run.business_date, stage=run.stage,
                                         status=ReconciliationRun.Status.SUCCEEDED, pk__gt=run.pk).order_by("pk").first()
    )
    found = selectors.run_discrepancies(run=run)
    return render(request, "reconciliation/run_detail.html", {
        "run": run, "outcomes": outcomes, "discrepancies": found[:100], "discrepancy_count": found.count(),
        "superseded_by": superseded_by,
        "chart": selectors.channel_daily_effects(channel=run.channel, until=run.business_date, days=CHART_DAYS),
        "rerun_form": RunStartForm(initial={"channel": run.channel, "business_date": run.business_date}),
        "earlier_runs": ReconciliationRun.objects.filter(
            channel=run.channel, business_date=run.business_date).exclude(pk=run.pk).order_by("-id")[:10],
    })


@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
def run_progress(request, pk: int):
    run = get_object_or_404(ReconciliationRun.objects.select_related("channel"), pk=pk)
    response = render(request, "reconciliation/_run_progress.html", {"run": run})
    if not run.is_active and request.htmx:
        # Finished: reload the page once so the outcome tables appear.
        response["HX-Refresh"] = "true"
    return response


_OUTCOME_ORDER = {key: n for n, key in enumerate((
    "MATCHED", "MATCHED_CROSS_DAY", "AGREED_FAILED", *Discrepancy.Type.values,
))}
_EXTRA_OUTCOMES = {
    "MATCHED": _lazy("Matched"), "MATCHED_CROSS_DAY": _lazy("Matched across days"),
    "AGREED_FAILED": _lazy("Failed on both sides"),
}


def _outcome_label(key: str) -> str:
    if key in _EXTRA_OUTCOMES:
        return _EXTRA_OUTCOMES[key]
    return Discrepancy.Type(key).label if key in Discrepancy.Type.values else key


# --- Discrepancies -------------------------------------------------------------------------------


@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def discrepancy_list(request):
    form = DiscrepancyFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    sort = request.GET.get("sort", "-date")
    found = selectors.discrepancies(filters=filters, today=timezone.localdate(), sort=sort)
    page = Paginator(found, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    # Per currency: amounts of different currencies are never added together.
    totals = found.order_by().values("currency").annotate(
        overage=Sum("effect", filter=Q(effect__gt=0), default=0), shortage=Sum("effect", filter=Q(effect__lt=0), default=0)
    ).order_by("currency")
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    today = timezone.localdate()
    for d in page.object_list:
        d.age_days = (today - d.business_date).days
    return render(request, "reconciliation/discrepancy_list.html", {
        "form": form, "page": page, "query": query.urlencode(), "sort": sort, "sort_query": sort_query.urlencode(),
        "totals": totals,
    })
