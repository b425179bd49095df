"""Downloads of the discrepancy queue, the workflow audit trail and the runs report (CSV or XLSX).

Thin: each view parses the same filters as its screen, asks ``reconciliation.web.exports`` for the table
and returns it under a dated file name.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET

from reconciliation.selectors import discrepancies as selectors
from reconciliation.selectors.runs import runs
from reconciliation.selectors.workflow import workflow_events
from reconciliation.web import exports
from reconciliation.web.forms import DiscrepancyFilterForm, RunFilterForm


class AuditFilterForm(forms.Form):
    date_from = forms.DateField(label=_lazy("From"), required=False)
    date_to = forms.DateField(label=_lazy("To"), required=False)
    discrepancy = forms.IntegerField(label=_lazy("Discrepancy"), required=False, min_value=1)


def _refused(form: forms.Form) -> HttpResponseBadRequest:
    # An export of everything when a filter was mistyped would be worse than no export: say what is wrong.
    return HttpResponseBadRequest(
        _("The filters are not valid; nothing was exported.") + "\n" + form.errors.as_text(),
        content_type="text/plain; charset=utf-8",
    )


def _stem(name: str) -> str:
    return f"{name}-{timezone.localdate():%Y-%m-%d}"


@require_GET
@permission_required("reconciliation.view_discrepancy", raise_exception=True)
def discrepancy_export(request: HttpRequest, fmt: str) -> HttpResponse:
    form = DiscrepancyFilterForm(request.GET)
    if not form.is_valid():
        return _refused(form)
    today = timezone.localdate()
    found = selectors.discrepancies(filters=form.cleaned_data, today=today, sort=request.GET.get("sort", "-date"))
    table = exports.discrepancy_table(found, user=request.user, today=today)
    return exports.export_response(table, fmt=fmt, stem=_stem("discrepancies"))


@require_GET
@permission_required("reconciliation.view_workflowevent", raise_exception=True)
def audit_export(request: HttpRequest, fmt: str) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return _refused(form)
    table = exports.audit_table(workflow_events(filters=form.cleaned_data))
    return exports.export_response(table, fmt=fmt, stem=_stem("audit-trail"))


@require_GET
@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
def run_export(request: HttpRequest, fmt: str) -> HttpResponse:
    form = RunFilterForm(request.GET)
    if not form.is_valid():
        return _refused(form)
    table = exports.run_table(runs(filters=form.cleaned_data))
    return exports.export_response(table, fmt=fmt, stem=_stem("runs"))
