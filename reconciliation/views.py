"""Clerk screens for statements: the list, the upload with its live progress, a file's detail."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods

from backoffice.core.masking import can_view_personal_data, mask_account_number
from backoffice.core.money import format_money
from reconciliation import parsers, selectors
from reconciliation.dashboard import awaiting_my_approval, daily_effects
from reconciliation.forms import (
    BulkForm,
    ClaimRecoveredForm,
    DecisionForm,
    DiscrepancyFilterForm,
    NoteForm,
    ProposeForm,
    RunFilterForm,
    RunStartForm,
    SavedFilterForm,
    StatementFilterForm,
    StatementUploadForm,
)
from reconciliation.models import (
    Action,
    Claim,
    Discrepancy,
    FundMovement,
    ReconciliationRun,
    RefundOrder,
    Resolution,
    SavedFilter,
    StatementFile,
    StatementKind,
    StatementLine,
)
from reconciliation.models.workflow import OPEN_RESOLUTION_STATUSES
from reconciliation.services.ingest import StatementRefused, statement_receive
from reconciliation.services.resolution import (
    ACTION_HELP,
    ALLOWED_ACTIONS,
    APPROVE_PERMISSION,
    PROPOSABLE_STATES,
    PROPOSE_PERMISSION,
    SECOND_APPROVAL_PERMISSION,
    WorkflowRefused,
    claim_recovered,
    discrepancies_assign,
    discrepancy_note,
    discrepancy_propose,
    resolution_approve,
    resolution_reject,
    suggest,
)
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
    return render(
        request,
        "reconciliation/statement_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
        },
    )


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
                            channel=data["channel"],
                            content=upload,
                            original_name=upload.name,
                            source=StatementFile.Source.UPLOAD,
                            acting_user=request.user,
                            now=timezone.now(),
                            kind=data["kind"] or None,
                            statement_date=data["statement_date"],
                        )
                        transaction.on_commit(lambda pk=statement_file.pk: statement_parse_task.delay(statement_file_id=pk))
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
    return render(
        request,
        "reconciliation/statement_detail.html",
        {
            "f": statement_file,
            "page": page,
            "business": statement_file.kind == StatementKind.BUSINESS,
        },
    )


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
    return render(
        request,
        "reconciliation/run_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "start_form": start_form,
        },
    )


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
                channel=form.cleaned_data["channel"],
                business_date=form.cleaned_data["business_date"],
                trigger=ReconciliationRun.Trigger.CLERK,
                acting_user=request.user,
                now=timezone.now(),
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
            "key": key,
            "label": _outcome_label(key),
            "count": values["count"],
            "amount": values["amount"],
            "is_discrepancy": "overage" in values,
            "overage": Decimal(values.get("overage", "0")) or None,
            "shortage": Decimal(values.get("shortage", "0")) or None,
        }
        for key, values in sorted(run.counts.get("outcomes", {}).items(), key=lambda kv: _OUTCOME_ORDER.get(kv[0], 99))
    ]
    superseded_by = (
        ReconciliationRun.objects.filter(
            channel=run.channel,
            business_date=run.business_date,
            stage=run.stage,
            status=ReconciliationRun.Status.SUCCEEDED,
            pk__gt=run.pk,
        )
        .order_by("pk")
        .first()
    )
    found = selectors.run_discrepancies(run=run)
    return render(
        request,
        "reconciliation/run_detail.html",
        {
            "run": run,
            "outcomes": outcomes,
            "discrepancies": found[:100],
            "discrepancy_count": found.count(),
            "superseded_by": superseded_by,
            "chart": daily_effects(channel_ids=[run.channel_id], until=run.business_date, days=CHART_DAYS)[run.channel_id],
            "rerun_form": RunStartForm(initial={"channel": run.channel, "business_date": run.business_date}),
            "earlier_runs": ReconciliationRun.objects.filter(channel=run.channel, business_date=run.business_date)
            .exclude(pk=run.pk)
            .order_by("-id")[:10],
        },
    )


@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
def run_progress(request, pk: int):
    run = get_object_or_404(ReconciliationRun.objects.select_related("channel"), pk=pk)
    response = render(request, "reconciliation/_run_progress.html", {"run": run})
    if not run.is_active and request.htmx:
        # Finished: reload the page once so the outcome tables appear.
        response["HX-Refresh"] = "true"
    return response


_OUTCOME_ORDER = {
    key: n
    for n, key in enumerate(
        (
            "MATCHED",
            "MATCHED_CROSS_DAY",
            "AGREED_FAILED",
            *Discrepancy.Type.values,
        )
    )
}
_EXTRA_OUTCOMES = {
    "MATCHED": _lazy("Matched"),
    "MATCHED_CROSS_DAY": _lazy("Matched across days"),
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
    totals = (
        found.order_by()
        .values("currency")
        .annotate(
            overage=Sum("effect", filter=Q(effect__gt=0), default=0), shortage=Sum("effect", filter=Q(effect__lt=0), default=0)
        )
        .order_by("currency")
    )
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    return render(
        request,
        "reconciliation/discrepancy_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "sort": sort,
            "sort_query": sort_query.urlencode(),
            "totals": totals,
            "bulk_form": BulkForm(),
            "saved_filters": request.user.saved_filters.order_by("name"),
            "save_form": SavedFilterForm(initial={"query": query.urlencode()}),
            "selectable": True,
        },
    )


# --- One discrepancy: both sides, suggestion, history, workflow ------------------------------------


def client_address(request) -> str:
    """Where a request came from, for the audit trail (the proxy's forwarded address when behind one)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return forwarded.split(",")[0].strip() if forwarded and settings.USE_X_FORWARDED_FOR else request.META.get("REMOTE_ADDR", "")


def _field_rows(obj, *, skip: set[str], masked: set[str] = frozenset()) -> list[tuple[str, object]]:
    """Every field of a record as (label, shown value): choices by label, amounts with the currency's
    decimals, personal fields masked (``masked``), empty values as None."""
    rows = []
    for f in obj._meta.concrete_fields:
        if f.name in skip:
            continue
        value = getattr(obj, f"get_{f.name}_display")() if f.choices else getattr(obj, f.name)
        if isinstance(value, Decimal):
            value = format_money(value, getattr(obj, "currency", ""))
        elif f.name in masked:
            value = mask_account_number(value)
        rows.append((f.verbose_name, value if value not in ("", None) else None))
    return rows


def _txn_fields(txn, user) -> list[tuple[str, object]]:
    if txn is None:
        return []
    masked = set() if can_view_personal_data(user) else {"counterparty_account"}
    return _field_rows(txn, skip={"id", "source_line"}, masked=masked)


def _line_fields(line) -> list[tuple[str, object]]:
    return [] if line is None else _field_rows(line, skip={"id", "raw", "channel", "file"})


@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def discrepancy_detail(request, pk: int):
    d = get_object_or_404(
        Discrepancy.objects.select_related(
            "channel__bank",
            "run",
            "platform_txn__original",
            "statement_line__file",
            "related_txn",
            "assigned_to",
            "matched_run",
        ),
        pk=pk,
    )
    open_resolution = d.resolutions.filter(status__in=OPEN_RESOLUTION_STATUSES).select_related("proposed_by").first()
    resolutions = d.resolutions.select_related("proposed_by").prefetch_related("approvals__decided_by").order_by("-id")
    events = d.workflow_events.select_related("actor", "resolution").order_by("at", "id")
    allowed = ALLOWED_ACTIONS.get(d.type, ())
    can_propose = d.state in PROPOSABLE_STATES and request.user.has_perm(PROPOSE_PERMISSION)
    can_decide = (
        bool(open_resolution)
        and open_resolution.proposed_by_id != request.user.pk
        and request.user.has_perm(
            APPROVE_PERMISSION if open_resolution.status == Resolution.Status.PROPOSED else SECOND_APPROVAL_PERMISSION
        )
    )
    return render(
        request,
        "reconciliation/discrepancy_detail.html",
        {
            "d": d,
            "suggestion": suggest(d),
            "open_resolution": open_resolution,
            "resolutions": resolutions,
            "events": events,
            "txn_fields": _txn_fields(d.platform_txn, request.user),
            "line_fields": _line_fields(d.statement_line),
            "raw_pairs": _raw_pairs(d.statement_line.file, d.statement_line.raw, request.user) if d.statement_line else [],
            "related_fields": _txn_fields(d.related_txn, request.user),
            "propose_form": ProposeForm(allowed=allowed, initial={"action": getattr(suggest(d), "action", "")})
            if can_propose
            else None,
            "action_help": {a: ACTION_HELP[a] for a in allowed},
            "decision_form": DecisionForm() if can_decide else None,
            "note_form": NoteForm(),
            "claims": Claim.objects.filter(resolution__discrepancy=d).order_by("id"),
            "refund_orders": RefundOrder.objects.filter(resolution__discrepancy=d).order_by("id"),
            "claim_form": ClaimRecoveredForm(),
        },
    )


@require_http_methods(["POST"])
@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def discrepancy_act(request, pk: int, verb: str):
    """Every workflow step posted from the detail page; the service enforces who may do what."""
    d = get_object_or_404(Discrepancy, pk=pk)
    common = {"acting_user": request.user, "now": timezone.now(), "source": client_address(request)}
    try:
        if verb == "propose":
            form = ProposeForm(request.POST, allowed=ALLOWED_ACTIONS.get(d.type, ()))
            if not form.is_valid():
                raise WorkflowRefused("; ".join(f"{form.fields[f].label}: {' '.join(e)}" for f, e in form.errors.items()))
            discrepancy_propose(
                discrepancy=d,
                action=form.cleaned_data["action"],
                reason=form.cleaned_data["reason"],
                params=form.params(),
                **common,
            )
            messages.success(request, _("Proposed. A checker will approve or reject it."))
        elif verb in ("approve", "reject"):
            resolution = get_object_or_404(Resolution, pk=request.POST.get("resolution"), discrepancy=d)
            comment = request.POST.get("comment", "")
            if verb == "approve":
                done = resolution_approve(resolution=resolution, comment=comment, **common)
                messages.success(
                    request,
                    _("Approved; a second approval by an administrator is still needed.")
                    if done.status == Resolution.Status.FIRST_APPROVED
                    else _("Approved and executed."),
                )
            else:
                resolution_reject(resolution=resolution, comment=comment, **common)
                messages.success(request, _("Rejected; the item is open again."))
        elif verb == "assign":
            discrepancies_assign(discrepancies=Discrepancy.objects.filter(pk=d.pk), assignee=request.user, **common)
            messages.success(request, _("Assigned to you."))
        elif verb == "note":
            discrepancy_note(discrepancy=d, text=request.POST.get("text", ""), **common)
            messages.success(request, _("Note added to the history."))
        elif verb == "recovered":
            claim = get_object_or_404(Claim, pk=request.POST.get("claim"), resolution__discrepancy=d)
            claim_recovered(claim=claim, reference=request.POST.get("reference", ""), **common)
            messages.success(request, _("Recovered; the discrepancy is resolved."))
        else:
            raise Http404
    except WorkflowRefused as exc:
        messages.error(request, str(exc))
    return redirect("reconciliation:discrepancy_detail", pk=d.pk)


@require_http_methods(["POST"])
@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def discrepancy_bulk(request):
    """Safe bulk actions on ticked queue items: each item goes through the same service rules."""
    form = BulkForm(request.POST)
    back = request.POST.get("next") or reverse("reconciliation:discrepancy_list")
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
    if not form.is_valid() or not ids:
        messages.error(request, _("Tick the items and choose what to do with them."))
        return redirect(back)
    common = {"acting_user": request.user, "now": timezone.now(), "source": client_address(request)}
    chosen = Discrepancy.objects.filter(pk__in=ids)
    if form.cleaned_data["bulk_action"] == "assign_me":
        count = discrepancies_assign(discrepancies=chosen, assignee=request.user, **common)
        messages.success(request, _("%(n)d item(s) assigned to you.") % {"n": count})
        return redirect(back)
    done, refused = 0, []
    for d in chosen.order_by("id"):
        try:
            discrepancy_propose(
                discrepancy=d,
                action=Action.EXTEND_CARRY_OVER,
                reason=form.cleaned_data["reason"],
                params={"days": form.cleaned_data["days"] or 1},
                **common,
            )
            done += 1
        except WorkflowRefused as exc:
            refused.append(f"#{d.pk}: {exc}")
    if done:
        messages.success(request, _("%(n)d extension(s) proposed for approval.") % {"n": done})
    for message in refused[:10]:
        messages.error(request, message)
    return redirect(back)


@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def approvals(request):
    """Proposals waiting for this user's decision (never their own)."""
    page = Paginator(awaiting_my_approval(user=request.user), LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "reconciliation/approvals.html", {"page": page, "query": ""})


@require_http_methods(["POST"])
@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def saved_filter_save(request):
    form = SavedFilterForm(request.POST)
    if form.is_valid():
        SavedFilter.objects.update_or_create(
            owner=request.user,
            name=form.cleaned_data["name"],
            defaults={"query": form.cleaned_data["query"], "created_at": timezone.now()},
        )
        messages.success(request, _("Filter saved."))
    return redirect(f"{reverse('reconciliation:discrepancy_list')}?{form.data.get('query', '')}")


@require_http_methods(["POST"])
@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def saved_filter_delete(request, pk: int):
    SavedFilter.objects.filter(owner=request.user, pk=pk).delete()
    return redirect("reconciliation:discrepancy_list")
