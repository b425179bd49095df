"""The books' screens: the trial balance, a ledger account's entries, vouchers, and offline items (线下补录)
entered by a clerk and approved by a checker. Thin: the rules live in accounts.services.books."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Account, Entry, LedgerAccount, Voucher
from accounts.services.books import (
    APPROVE_PERMISSION,
    OFFLINE_PERMISSION,
    BooksRefused,
    Line,
    ledger_balance,
    party_balance,
    posted_entries,
    trial_balance,
    voucher_approve,
    voucher_propose,
    voucher_reject,
)
from accounts.web.forms import AsOfForm, DecisionForm, EntryRowFormSet, OfflineVoucherForm, VoucherFilterForm

PAGE_SIZE = 50


def _as_of(request):
    form = AsOfForm(request.GET or None)
    day = (form.cleaned_data.get("date") if form.is_valid() else None) or timezone.localdate()
    if not form.is_bound or not form.is_valid() or not form.cleaned_data.get("date"):
        form = AsOfForm(initial={"date": day})
    return form, day


@permission_required("accounts.view_ledgeraccount", raise_exception=True)
def trial_balance_view(request):
    form, day = _as_of(request)
    report = trial_balance(as_of=day)
    sections = [
        {
            "currency": currency,
            "rows": [row for row in report.rows if row.account.currency == currency],
            "debit": debit,
            "credit": credit,
            "balanced": debit == credit,
        }
        for currency, (debit, credit) in report.totals.items()
    ]
    waiting = Voucher.objects.filter(status=Voucher.Status.PROPOSED).count()
    return render(
        request,
        "accounts/trial_balance.html",
        {"form": form, "day": day, "sections": sections, "balanced": report.balanced, "waiting": waiting},
    )


@permission_required("accounts.view_ledgeraccount", raise_exception=True)
def ledger_account_detail(request, pk: int):
    account = get_object_or_404(LedgerAccount, pk=pk)
    form, day = _as_of(request)
    entries = (
        posted_entries(day)
        .filter(ledger_account=account)
        .select_related("voucher", "party_account")
        .order_by("-voucher__business_date", "-voucher_id", "-id")
    )
    totals = entries.aggregate(d=Sum("debit"), c=Sum("credit"))
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/ledger_account.html",
        {
            "account": account,
            "form": form,
            "day": day,
            "balance": ledger_balance(account, day),
            "debit": totals["d"] or Decimal(0),
            "credit": totals["c"] or Decimal(0),
            "page": page,
            "query": urlencode({"date": day.isoformat()}),
        },
    )


@permission_required("accounts.view_voucher", raise_exception=True)
def voucher_list(request):
    form = VoucherFilterForm(request.GET or None)
    vouchers = Voucher.objects.select_related("proposed_by", "decided_by").order_by("-business_date", "-id")
    if form.is_valid():
        data = form.cleaned_data
        if data["status"]:
            vouchers = vouchers.filter(status=data["status"])
        if data["kind"]:
            vouchers = vouchers.filter(kind=data["kind"])
        if data["date_from"]:
            vouchers = vouchers.filter(business_date__gte=data["date_from"])
        if data["date_to"]:
            vouchers = vouchers.filter(business_date__lte=data["date_to"])
    vouchers = vouchers.annotate(amount=Sum("entries__debit"))
    page = Paginator(vouchers, PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in request.GET.items() if k != "page" and v})
    return render(
        request,
        "accounts/voucher_list.html",
        {"form": form, "page": page, "query": query, "filter_notice": _filter_notice(form, request)},
    )


def _filter_notice(form: VoucherFilterForm, request) -> dict | None:
    """What narrows the list, in words, and the way back to all of it."""
    if not form.is_valid():
        return None
    parts = []
    for name, value in form.cleaned_data.items():
        if value in (None, ""):
            continue
        field = form.fields[name]
        shown = dict(field.choices).get(value, value) if hasattr(field, "choices") else value
        parts.append(f"{field.label}: {shown}")
    return {"parts": parts, "clear_url": request.path} if parts else None


@permission_required("accounts.view_voucher", raise_exception=True)
def voucher_detail(request, pk: int):
    voucher = get_object_or_404(Voucher.objects.select_related("proposed_by", "decided_by", "reversal_of"), pk=pk)
    entries = list(voucher.entries.select_related("ledger_account", "party_account").order_by("id"))
    reversed_by = Voucher.objects.filter(reversal_of=voucher).first()
    can_decide = (
        voucher.status == Voucher.Status.PROPOSED
        and request.user.has_perm(APPROVE_PERMISSION)
        and voucher.proposed_by_id != request.user.pk
    )
    return render(
        request,
        "accounts/voucher_detail.html",
        {
            "voucher": voucher,
            "entries": entries,
            "debit": sum((e.debit for e in entries), Decimal(0)),
            "credit": sum((e.credit for e in entries), Decimal(0)),
            "reversed_by": reversed_by,
            "can_decide": can_decide,
            "decision_form": DecisionForm(),
        },
    )


@permission_required("accounts.view_voucher", raise_exception=True)
def voucher_new(request):
    """An offline item (线下补录), entered by a clerk; the service checks the permission again."""
    can_enter = request.user.has_perm(OFFLINE_PERMISSION)
    if not can_enter:
        raise PermissionDenied(_("Your role may not enter offline items."))
    form = OfflineVoucherForm(request.POST or None)
    rows = EntryRowFormSet(request.POST or None, prefix="e")
    if request.method == "POST":
        if form.is_valid() and rows.is_valid():
            lines = [
                Line(
                    r["ledger_account"], debit=r.get("debit") or Decimal(0), credit=r.get("credit") or Decimal(0), memo=r["memo"]
                )
                for r in rows.cleaned_data
                if r and r.get("ledger_account") is not None
            ]
            try:
                voucher = voucher_propose(
                    business_date=form.cleaned_data["business_date"],
                    memo=form.cleaned_data["memo"],
                    lines=lines,
                    acting_user=request.user,
                    now=timezone.now(),
                )
            except BooksRefused as exc:
                messages.error(request, str(exc))
            else:
                messages.success(
                    request, _("Voucher %(number)s entered. A checker will approve or reject it.") % {"number": voucher.number}
                )
                return redirect("books:voucher_detail", pk=voucher.pk)
    return render(request, "accounts/voucher_new.html", {"form": form, "rows": rows, "can_enter": can_enter})


@require_POST
@permission_required("accounts.view_voucher", raise_exception=True)
def voucher_decide(request, pk: int, verb: str):
    voucher = get_object_or_404(Voucher, pk=pk)
    form = DecisionForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    decide = {"approve": voucher_approve, "reject": voucher_reject}.get(verb)
    if decide is None:
        raise Http404
    if not request.user.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied
    try:
        decide(voucher=voucher, comment=comment, acting_user=request.user, now=timezone.now())
    except BooksRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Voucher posted.") if verb == "approve" else _("Voucher rejected."))
    return redirect("books:voucher_detail", pk=pk)


@permission_required("accounts.view_account", raise_exception=True)
def party_account_detail(request, pk: int):
    """A customer's or merchant's account: its balance and entries, from the postings only."""
    account = get_object_or_404(Account.objects.select_related("customer"), pk=pk)
    entries = (
        Entry.objects.filter(party_account=account, voucher__status=Voucher.Status.POSTED)
        .select_related("voucher", "ledger_account")
        .order_by("-voucher__business_date", "-voucher_id", "-id")
    )
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/party_account.html",
        {"account": account, "balance": party_balance(account.pk), "page": page, "query": ""},
    )
