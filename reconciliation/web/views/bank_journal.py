"""The bank journal (银行日记账) on a screen, per bank account and span of dates, with its export."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from reconciliation.models import BankAccount
from reconciliation.selectors.bank_journal import bank_journal
from reconciliation.web import exports
from reconciliation.web.forms import BankJournalForm

PERMISSION = "accounts.view_ledgeraccount"


def _asked(request) -> tuple[BankJournalForm, tuple | None]:
    today = timezone.localdate()
    first_account = BankAccount.objects.filter(is_active=True).order_by("bank__code", "account_no").first()
    initial = {"account": first_account, "date_from": today - timedelta(days=6), "date_to": today}
    form = BankJournalForm(request.GET if "account" in request.GET else None, initial=initial)
    if form.is_bound:
        data = form.cleaned_data if form.is_valid() else None
        return form, (data["account"], data["date_from"], data["date_to"]) if data else None
    return form, (first_account, initial["date_from"], initial["date_to"]) if first_account else None


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def bank_journal_view(request):
    form, asked = _asked(request)
    journal = bank_journal(account=asked[0], first=asked[1], last=asked[2]) if asked else None
    query = f"account={asked[0].pk}&date_from={asked[1].isoformat()}&date_to={asked[2].isoformat()}" if asked else ""
    return render(request, "reconciliation/bank_journal.html", {"form": form, "journal": journal, "query": query})


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def bank_journal_export(request, fmt: str) -> HttpResponse:
    form, asked = _asked(request)
    if not form.is_bound or asked is None:
        return HttpResponse(
            form.errors.as_text() or "account, date_from and date_to are required", status=400, content_type="text/plain"
        )
    journal = bank_journal(account=asked[0], first=asked[1], last=asked[2])
    stem = f"bank-journal-{asked[0].account_no}-{asked[1].isoformat()}-{asked[2].isoformat()}"
    return exports.export_response(exports.bank_journal_table(journal), fmt=fmt, stem=stem)
