"""Clerk screens for reconciliation runs: the list, a request, a run's outcome and live progress."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from reconciliation.models import (
    RUN_OUTCOMES,
    ReconciliationRun,
    RunStage,
)
from reconciliation.models.runs import outcome_label
from reconciliation.selectors import runs as selectors
from reconciliation.services.engine.runs import RunAlreadyActive, run_start
from reconciliation.services.jobs import Job, queued_not_sent
from reconciliation.web.forms import (
    RunStartForm,
)
from reconciliation.web.presenters import (
    covered_dates,
    filter_notice,
    run_books,
    run_controls,
    run_rows,
    with_finding_labels,
)
from reconciliation.web.views.statements import LIST_PAGE_SIZE

# --- Reconciliation runs -------------------------------------------------------------------------

CHART_DAYS = 14
# The run page lists the first page of the discrepancies it concluded about, as the queue (?run=) shows it; the
# queue has them all, a page at a time.
RUN_PAGE_ROWS = LIST_PAGE_SIZE


@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
def run_list(request):
    found = selectors.run_list(params=request.GET)
    form = found.form
    page = Paginator(found.qs, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    start_form = RunStartForm(initial={"business_date": timezone.localdate() - timedelta(days=1)})
    return render(
        request,
        "reconciliation/run_list.html",
        {
            "form": form,
            "page": page,
            "rows": run_rows(page),
            "query": query.urlencode(),
            "start_form": start_form,
            "filter_notice": filter_notice(found, path=request.path),
        },
    )


@permission_required("reconciliation.add_reconciliationrun", raise_exception=True)
@require_http_methods(["POST"])
def run_request(request):
    form = RunStartForm(request.POST)
    if not form.is_valid():
        problems = [str(e) for field in ("channel", "business_date") for e in form.errors.get(field, [])]
        messages.error(request, " ".join(problems) if problems else _("Choose a channel and a business date."))
        return redirect("reconciliation:run_list")
    try:
        with transaction.atomic():
            run = run_start(
                channel=form.cleaned_data["channel"],
                business_date=form.cleaned_data["business_date"],
                trigger=ReconciliationRun.Trigger.CLERK,
                acting_user=request.user,
                now=timezone.now(),
                stage=form.cleaned_data["stage"] or RunStage.TRANSACTION,
            )
    except RunAlreadyActive as exc:
        messages.warning(request, _("A run of this channel and date is already waiting or running; here it is."))
        return redirect("reconciliation:run_detail", pk=exc.run.pk)
    if queued_not_sent(Job.RUN_EXECUTE, run_id=run.pk):
        messages.warning(
            request,
            _("The run is saved, but the job queue cannot be reached just now: it starts by itself when the queue is back."),
        )
    else:
        messages.success(request, _("Reconciliation requested; this page follows its progress."))
    return redirect("reconciliation:run_detail", pk=run.pk)


@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
def run_detail(request, pk: int):
    run = get_object_or_404(ReconciliationRun.objects.select_related("channel", "started_by"), pk=pk)
    outcomes = [
        {
            "key": key,
            "label": outcome_label(key),
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
    story = selectors.run_story(run=run)
    return render(
        request,
        "reconciliation/run_detail.html",
        {
            "run": run,
            "waiting_for_broker": _waiting_for_broker(run),
            "outcomes": outcomes,
            "dates": covered_dates(run.counts),
            "controls": run_controls(run.counts),
            "books": run_books(run.counts),
            # The run's story: its list and its counts from the same findings as the queue's ?run=.
            "story": story,
            "discrepancies": with_finding_labels(selectors.run_discrepancies(run=run)[:RUN_PAGE_ROWS]),
            "run_page_rows": RUN_PAGE_ROWS,
            "superseded_by": superseded_by,
            "chart": selectors.daily_effects(channel_ids=[run.channel_id], until=run.business_date, days=CHART_DAYS)[
                run.channel_id
            ],
            "rerun_form": RunStartForm(initial={"channel": run.channel, "business_date": run.business_date, "stage": run.stage}),
            "earlier_runs": ReconciliationRun.objects.filter(channel=run.channel, business_date=run.business_date)
            .exclude(pk=run.pk)
            .order_by("-created_at", "-id")[:10],
        },
    )


@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
def run_progress(request, pk: int):
    run = get_object_or_404(ReconciliationRun.objects.select_related("channel"), pk=pk)
    response = render(request, "reconciliation/_run_progress.html", {"run": run, "waiting_for_broker": _waiting_for_broker(run)})
    if not run.is_active and request.htmx:
        # Finished: reload the page once so the outcome tables appear.
        response["HX-Refresh"] = "true"
    return response


def _waiting_for_broker(run: ReconciliationRun) -> bool:
    return run.status == ReconciliationRun.Status.PENDING and queued_not_sent(Job.RUN_EXECUTE, run_id=run.pk)


_OUTCOME_ORDER = {key: n for n, key in enumerate(RUN_OUTCOMES)}
