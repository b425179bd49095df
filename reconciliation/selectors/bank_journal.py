"""The bank journal (银行日记账) of one bank account: the entries posted on its ledger account (the books'
1002.<bank>.<account>), date by date, with the running balance, set against the balances the bank's
statements of each date state. Read-only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q

from accounts.models import Entry, LedgerAccount, Voucher
from accounts.services.books import ledger_balance
from reconciliation.models import (
    FUND_TYPES,
    BankAccount,
    Discrepancy,
    DiscrepancyState,
    DiscrepancyType,
    ReconciliationRun,
    RunStage,
)
from reconciliation.services.engine.books_check import statement_balances_between
from reconciliation.services.postings import bank_deposit_account

MAX_DAYS = 62


@dataclass
class JournalLine:
    entry: Entry
    balance: Decimal  # the journal's balance after this entry


@dataclass
class JournalDay:
    day: date
    opening: Decimal
    closing: Decimal = Decimal(0)
    debit: Decimal = Decimal(0)
    credit: Decimal = Decimal(0)
    lines: list[JournalLine] = field(default_factory=list)
    statement_opening: Decimal | None = None
    statement_closing: Decimal | None = None
    check: ReconciliationRun | None = None  # the latest book-to-bank check of the date
    open_items: list[Discrepancy] = field(default_factory=list)  # what explains a difference, still to work

    @property
    def open_effect(self) -> Decimal:
        return sum((d.effect for d in self.open_items), Decimal(0))

    @property
    def difference(self) -> Decimal | None:
        """The bank's closing balance less the journal's (None without a statement of the date)."""
        return None if self.statement_closing is None else self.statement_closing - self.closing


@dataclass
class BankJournal:
    account: BankAccount
    ledger: LedgerAccount
    first: date
    last: date
    opening: Decimal
    closing: Decimal
    days: list[JournalDay]

    @property
    def debit(self) -> Decimal:
        return sum((d.debit for d in self.days), Decimal(0))

    @property
    def credit(self) -> Decimal:
        return sum((d.credit for d in self.days), Decimal(0))


def bank_journal(*, account: BankAccount, first: date, last: date) -> BankJournal:
    """The journal from ``first`` to ``last`` (at most MAX_DAYS): the dates with an entry or a statement."""
    if last < first or (last - first).days >= MAX_DAYS:
        raise ValueError(f"a bank journal covers 1 to {MAX_DAYS} days, not {first}..{last}")
    ledger = bank_deposit_account(account)
    opening = ledger_balance(ledger, first - timedelta(days=1))
    entries = (
        Entry.objects.filter(
            ledger_account=ledger, voucher__status=Voucher.Status.POSTED, voucher__business_date__range=(first, last)
        )
        .select_related("voucher")
        .order_by("voucher__business_date", "voucher__number", "id")
    )
    by_day: dict[date, list[Entry]] = {}
    for e in entries:
        by_day.setdefault(e.voucher.business_date, []).append(e)
    checks = {
        r.business_date: r
        for r in ReconciliationRun.objects.filter(
            channel__settlement_account=account, stage=RunStage.BOOKS, business_date__range=(first, last)
        ).order_by("business_date", "id")
    }
    open_items: dict[date, list[Discrepancy]] = {}
    for d in (
        Discrepancy.objects.filter(type__in=FUND_TYPES, business_date__range=(first, last))
        .filter(
            Q(fund_movement__bank_account=account) | Q(type=DiscrepancyType.JOURNAL_EXTRA, channel__settlement_account=account)
        )
        .exclude(state=DiscrepancyState.RESOLVED)
        .order_by("id")
    ):
        open_items.setdefault(d.business_date, []).append(d)
    stated = statement_balances_between(account, first, last)
    days: list[JournalDay] = []
    balance, day = opening, first
    while day <= last:
        s_opening, s_closing = stated.get(day, (None, None))
        if day in by_day or s_closing is not None or s_opening is not None:
            d = JournalDay(
                day, opening=balance, statement_opening=s_opening, statement_closing=s_closing, check=checks.get(day),
                open_items=open_items.get(day, []),
            )  # fmt: skip
            for e in by_day.get(day, []):
                balance += e.debit - e.credit  # a bank deposit is an asset: debits raise it
                d.debit += e.debit
                d.credit += e.credit
                d.lines.append(JournalLine(e, balance))
            d.closing = balance
            days.append(d)
        day += timedelta(days=1)
    return BankJournal(account, ledger, first, last, opening, balance, days)
