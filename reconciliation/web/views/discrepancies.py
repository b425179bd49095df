"""Clerk screens for discrepancies: the queue, one item with its workflow, bulk actions, approvals, saved filters."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.models import LedgerAccount
from backoffice.core.http import client_address
from reconciliation.models import (
    Action,
    Claim,
    Discrepancy,
    ReconciliationRun,
    Resolution,
    WorkflowEvent,
)
from reconciliation.models.workflow import (
    APPROVE_PERMISSION,
    OPEN_RESOLUTION_STATUSES,
    PROPOSE_PERMISSION,
    SECOND_APPROVAL_PERMISSION,
)
from reconciliation.selectors import discrepancies as selectors
from reconciliation.selectors.runs import run_story
from reconciliation.selectors.workflow import awaiting_my_approval, discrepancy_events, discrepancy_resolutions
from reconciliation.services.workflow.pairing import discrepancies_pair, pairing_preview
from reconciliation.services.workflow.resolution import (
    ALLOWED_ACTIONS,
    PROPOSABLE_STATES,
    STEP_PERMISSIONS,
    WorkflowForbidden,
    WorkflowRefused,
    claim_recovery_decide,
    claim_recovery_report,
    discrepancies_assign,
    discrepancy_note,
    discrepancy_propose,
    queue_filter_delete,
    queue_filter_save,
    resolution_approve,
    resolution_reject,
    step_require,
)
from reconciliation.services.workflow.suggestions import ACTION_HELP, suggest
from reconciliation.web.forms import (
    BulkForm,
    ClaimRecoveredForm,
    DecisionForm,
    NoteForm,
    PairForm,
    ProposeForm,
    SavedFilterForm,
)
from reconciliation.web.presenters import (
    covered_dates,
    filter_notice,
    line_fields,
    movement_fields,
    raw_pairs,
    resolution_views,
    txn_fields,
)
from reconciliation.web.views.statements import LIST_PAGE_SIZE

# --- Discrepancies -------------------------------------------------------------------------------


@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def discrepancy_list(request):
    queue = selectors.discrepancy_queue(params=request.GET, today=timezone.localdate())
    totals = selectors.queue_totals(queue)
    paginator = Paginator(queue.qs, LIST_PAGE_SIZE)
    paginator.count = sum(t["items"] for t in totals)  # counted with the totals: the list is read once
    page = paginator.get_page(request.GET.get("page"))
    sort = request.GET.get("sort", queue.filters["sort"].default)
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    # Filtered by a run: the run's story, counted from the same findings the list shows.
    run = None
    if queue.is_valid() and (run_id := queue.form.cleaned_data.get("run")):
        run = ReconciliationRun.objects.select_related("channel").filter(pk=int(run_id)).first()
    return render(
        request,
        "reconciliation/discrepancy_list.html",
        {
            "form": queue.form,
            "page": page,
            "query": query.urlencode(),
            "sort": sort,
            "sort_query": sort_query.urlencode(),
            "totals": totals,
            "bulk_form": BulkForm(),
            "saved_filters": request.user.saved_filters.order_by("name"),
            "save_form": SavedFilterForm(initial={"query": query.urlencode()}),
            "selectable": True,
            "filter_notice": filter_notice(queue, path=request.path),
            "run": run,
            "story": run_story(run=run) if run else None,
            "run_dates": covered_dates(run.counts) if run else "",
        },
    )


# --- One discrepancy: both sides, suggestion, history, workflow ------------------------------------


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
            "manual_pairing",
        ),
        pk=pk,
    )
    resolutions = resolution_views(discrepancy_resolutions(discrepancy=d))
    open_view = next((v for v in resolutions if v.resolution.status in OPEN_RESOLUTION_STATUSES), None)
    open_resolution = open_view.resolution if open_view else None
    events = list(discrepancy_events(discrepancy=d))
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
            "open_view": open_view,
            # Proposals decided or done: what each did, who proposed and approved it, when.
            "done_resolutions": [v for v in resolutions if v is not open_view],
            "events": events,
            # Runs of the current engine record their finding as an event; older ones only as the run.
            "found_event": any(e.kind == WorkflowEvent.Kind.FOUND for e in events),
            "txn_fields": txn_fields(d.platform_txn, request.user),
            "line_fields": line_fields(d.statement_line, request.user),
            "raw_pairs": raw_pairs(d.statement_line.file, d.statement_line.raw, request.user) if d.statement_line else [],
            "related_fields": txn_fields(d.related_txn, request.user),
            "movement_fields": movement_fields(d.fund_movement, request.user),
            "chart_accounts": LedgerAccount.objects.filter(currency=d.currency, is_active=True).order_by("code")
            if can_propose
            else [],
            "propose_form": ProposeForm(allowed=allowed, initial={"action": getattr(suggest(d), "action", "")})
            if can_propose
            else None,
            "action_help": {a: ACTION_HELP[a] for a in allowed},
            "decision_form": DecisionForm() if can_decide else None,
            "note_form": NoteForm(),
            "claim_form": ClaimRecoveredForm(),
        },
    )


@require_http_methods(["POST"])
@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def discrepancy_act(request, pk: int, verb: str):
    """Every workflow step posted from the detail page; the service enforces who may do what."""
    if verb not in STEP_PERMISSIONS:
        raise Http404
    step_require(request.user, verb)  # a role that may not take the step: 403 before the request is read
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
            # Its own proposal, or a manual pairing that takes it in.
            resolution = get_object_or_404(
                Resolution.objects.filter(Q(discrepancy=d) | Q(items__discrepancy=d)).distinct(),
                pk=request.POST.get("resolution"),
            )
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
            claim_recovery_report(claim=claim, reference=request.POST.get("reference", ""), **common)
            messages.success(request, _("Recovery reported. A checker will confirm it."))
        elif verb in ("recovery_confirm", "recovery_reject"):
            claim = get_object_or_404(Claim, pk=request.POST.get("claim"), resolution__discrepancy=d)
            confirm = verb == "recovery_confirm"
            claim_recovery_decide(claim=claim, confirm=confirm, comment=request.POST.get("comment", ""), **common)
            messages.success(
                request,
                _("Recovery confirmed; the discrepancy is resolved.")
                if confirm
                else _("Recovery report sent back; the claim is open again."),
            )
        else:
            raise Http404
    except WorkflowForbidden:
        raise  # not a message on the page: a 403
    except WorkflowRefused as exc:
        messages.error(request, str(exc))
    return redirect("reconciliation:discrepancy_detail", pk=d.pk)


@require_http_methods(["POST"])
@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def discrepancy_bulk(request):
    """Safe bulk actions on ticked queue items: each item goes through the same service rules."""
    step_require(request.user, "bulk")
    form = BulkForm(request.POST)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("reconciliation:discrepancy_list")  # never off the site (an open redirect)
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
    if not form.is_valid() or not ids:
        messages.error(request, _("Tick the items and choose what to do with them."))
        return redirect(back)
    if form.cleaned_data["bulk_action"] == "pair":  # shown side by side first, proposed from there
        return redirect(f"{reverse('reconciliation:discrepancy_pair')}?{urlencode({'ids': ids}, doseq=True)}")
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


@require_http_methods(["GET", "POST"])
@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def discrepancy_pair(request):
    """Manual pairing (手工勾兑): the ticked items of both sides side by side, their totals and what they
    leave over; a clerk says why they are one payment and proposes the pairing for a checker's approval."""
    source = request.POST if request.method == "POST" else request.GET
    # ?ids=1&ids=3 as the bulk action sends them, or ?ids=1,3 typed or pasted by hand
    ids = sorted({int(i) for value in source.getlist("ids") for i in value.split(",") if i.strip().isdigit()})
    chosen = list(
        Discrepancy.objects.filter(pk__in=ids).select_related("channel", "platform_txn", "statement_line").order_by("pk")
    )
    can_propose = request.user.has_perm(PROPOSE_PERMISSION)
    form = PairForm(request.POST or None)
    preview, problem = None, ""
    try:
        preview = pairing_preview(discrepancies=chosen)
    except WorkflowRefused as exc:
        problem = str(exc)
    if request.method == "POST":
        if not can_propose:
            raise PermissionDenied
        if form.is_valid():
            try:
                resolution = discrepancies_pair(
                    discrepancies=chosen,
                    reason=form.cleaned_data["reason"],
                    acting_user=request.user,
                    now=timezone.now(),
                    source=client_address(request),
                )
            except WorkflowRefused as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, _("Pairing proposed. A checker will approve or reject it."))
                return redirect("reconciliation:discrepancy_detail", pk=resolution.discrepancy_id)
    return render(
        request,
        "reconciliation/discrepancy_pair.html",
        {"chosen": chosen, "ids": ids, "preview": preview, "problem": problem, "form": form, "can_propose": can_propose},
    )


@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def approvals(request):
    """Proposals waiting for this user's decision (never their own)."""
    page = Paginator(awaiting_my_approval(user=request.user), LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "reconciliation/approvals.html", {"page": page, "query": ""})


@require_http_methods(["POST"])
@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def saved_filter_save(request):
    step_require(request.user, "filter_save")
    form = SavedFilterForm(request.POST)
    if form.is_valid():
        queue_filter_save(
            owner=request.user, name=form.cleaned_data["name"], query=form.cleaned_data["query"], now=timezone.now()
        )
        messages.success(request, _("Filter saved."))
    return redirect(f"{reverse('reconciliation:discrepancy_list')}?{form.data.get('query', '')}")


@require_http_methods(["POST"])
@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def saved_filter_delete(request, pk: int):
    queue_filter_delete(owner=request.user, pk=pk)  # a role that may not: WorkflowForbidden, a 403
    return redirect("reconciliation:discrepancy_list")
