"""Downloads of the discrepancy queue, the workflow audit trail and the runs report (CSV or XLSX).

Thin: each view parses the same filters as its screen, asks ``reconciliation.web.exports`` for the table
and returns it under a dated file name.
"""

from __future__ import annotations

import django_filters
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from reconciliation.selectors.discrepancies import discrepancy_queue
from reconciliation.selectors.runs import run_list
from reconciliation.selectors.workflow import workflow_events
from reconciliation.web import exports


def _refused(found: django_filters.FilterSet) -> HttpResponseBadRequest:
    # An export of everything when a filter was mistyped would be worse than no export: say what is wrong.
    return HttpResponseBadRequest(
        _("The filters are not valid; nothing was exported.") + "\n" + found.form.errors.as_text(),
        content_type="text/plain; charset=utf-8",
    )


def _stem(name: str) -> str:
    return f"{name}-{timezone.localdate():%Y-%m-%d}"


@require_GET
@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def discrepancy_export(request: HttpRequest, fmt: str) -> HttpResponse:
    today = timezone.localdate()
    queue = discrepancy_queue(params=request.GET, today=today)
    if not queue.is_valid():
        return _refused(queue)
    table = exports.discrepancy_table(queue.qs, user=request.user, today=today)
    return exports.export_response(table, fmt=fmt, stem=_stem("discrepancies"))


@require_GET
@permission_required("reconciliation.view_workflowevent", raise_exception=True)
def audit_export(request: HttpRequest, fmt: str) -> HttpResponse:
    events = workflow_events(params=request.GET)
    if not events.is_valid():
        return _refused(events)
    table = exports.audit_table(events.qs)
    return exports.export_response(table, fmt=fmt, stem=_stem("audit-trail"))


@require_GET
@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
def run_export(request: HttpRequest, fmt: str) -> HttpResponse:
    found = run_list(params=request.GET)
    if not found.is_valid():
        return _refused(found)
    table = exports.run_table(found.qs)
    return exports.export_response(table, fmt=fmt, stem=_stem("runs"))
