"""Clearing (清分) on a screen: a channel's date per settlement batch and per merchant, with its export; and
the daily fund report (应收应付 against 实收实付)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from reconciliation.models import FUND_TYPES, Channel, Discrepancy
from reconciliation.services.engine.clearing import clearing_compute
from reconciliation.services.engine.fund import fund_match, signed
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


@require_GET
@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
def fund_report(request):
    """The daily fund report: what clearing expects to settle on the date (应收应付) against the money that
    moved (实收实付), batch by batch and movement by movement, each with the discrepancy it is."""
    form, asked = _asked(request)
    report = fund_report_rows(*asked) if asked else None
    query = f"channel={asked[0].pk}&date={asked[1].isoformat()}" if asked else ""
    return render(request, "reconciliation/fund_report.html", {"form": form, "report": report, "query": query})


def fund_report_rows(channel: Channel, day) -> dict:
    f = fund_match(channel=channel, day=day)
    live = {
        d.match_key: d
        for d in Discrepancy.objects.filter(channel=channel, type__in=FUND_TYPES).exclude(state=Discrepancy.State.RESOLVED)
    }
    batches = [e for e in f.expected if e.settles_on == day or (e.movement and e.movement.statement_date == day)]
    own = [m for m in f.movements if m.statement_date == day]
    items = [m for m in own if m.pk in f.items_settled]
    listed = [m for m in own if m.pk not in f.items_settled]
    # What settled each expected batch, on whatever date within the window: its payouts alone, its movement.
    expected = sum((e.net for e in batches), Decimal(0))
    moved = sum(((e.net - e.left) + (signed(e.movement) if e.movement else Decimal(0)) for e in batches), Decimal(0))
    unexpected = sum((signed(m) for m in own if m.pk not in f.settled), Decimal(0))
    return {
        "channel": channel,
        "day": day,
        "currency": channel.currency,
        "batches": [
            {
                "expected": e,
                "moved": signed(e.movement) if e.movement else None,
                "gap": (signed(e.movement) if e.movement else Decimal(0)) - e.left,
                "by_items": e.net - e.left,
                "discrepancy": live.get(e.key),
            }
            for e in batches
        ],
        "movements": [
            {"m": m, "signed": signed(m), "settled": f.settled.get(m.pk, ""), "discrepancy": live.get(f"MOVE:{m.pk}")}
            for m in listed
        ],
        "items": {"count": len(items), "amount": sum((signed(m) for m in items), Decimal(0))},
        "expected": expected,
        "moved": moved,
        "unexpected": unexpected,
        "gap": moved - expected,
    }
