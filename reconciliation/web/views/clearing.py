"""Clearing (清分) on a screen: a channel's date per settlement batch and per merchant, with its export."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from reconciliation.models import Channel
from reconciliation.services.engine.clearing import clearing_compute
from reconciliation.web import exports
from reconciliation.web.forms import ClearingForm


def _asked(request) -> tuple[ClearingForm, object]:
    first = Channel.objects.filter(is_active=True).order_by("code").first()
    initial = {"channel": first, "date": timezone.localdate() - timedelta(days=1)}
    form = ClearingForm(request.GET if "channel" in request.GET else None, initial=initial)
    if form.is_bound:
        return form, (form.cleaned_data["channel"], form.cleaned_data["date"]) if form.is_valid() else None
    return form, (first, initial["date"]) if first else None


@require_GET
@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
def clearing_view(request):
    form, asked = _asked(request)
    result = clearing_compute(channel=asked[0], day=asked[1]) if asked else None
    query = f"channel={asked[0].pk}&date={asked[1].isoformat()}" if asked else ""
    return render(request, "reconciliation/clearing.html", {"form": form, "result": result, "query": query})


@require_GET
@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
def clearing_export(request, fmt: str) -> HttpResponse:
    form, asked = _asked(request)
    if not form.is_bound or asked is None:
        return HttpResponse(form.errors.as_text() or "channel and date are required", status=400, content_type="text/plain")
    result = clearing_compute(channel=asked[0], day=asked[1])
    return exports.export_response(
        exports.clearing_table(result), fmt=fmt, stem=f"clearing-{asked[0].code}-{asked[1].isoformat()}"
    )
