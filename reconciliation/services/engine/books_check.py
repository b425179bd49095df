"""Book-to-bank check (账实核对): our bank journal (银行日记账: the entries on a bank account's ledger account)
against the bank's statement of that account, for one date: the opening and closing balances, and the
movements line by line.

A run of stage BOOKS for a channel checks the channel's settlement account. Each movement of the date is
paired with a journal entry of the date: first the entry its own posting made (source ``fund:<movement>``),
then any other entry of the same direction and amount (an offline item, an adjustment). What is left:
- a movement without an entry is JOURNAL_MISSING (日记账少账: the bank has it, our books do not), unless a
  live stage-2 discrepancy is already about that movement (it is worked there, not twice);
- an entry without a movement is JOURNAL_EXTRA (日记账多账: our books have it, the bank does not).
Both are resolved through the workflow: a voucher (补账) by adjustment, or a claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from accounts.models import Entry, Voucher
from accounts.services.books import ledger_balance
from backoffice.core.money import money_str
from reconciliation.models import (
    FUND_TYPES,
    BankAccount,
    Discrepancy,
    DiscrepancyState,
    DiscrepancyType,
    FundMovement,
    ReconciliationRun,
    StatementFile,
)
from reconciliation.services.engine.fund import Conclusion, FundDay, conclusions_totals, conclusions_write, signed
from reconciliation.services.postings import bank_deposit_account, channel_lock

T = DiscrepancyType
ZERO = Decimal(0)


class BooksCheckRefused(Exception):
    """The check cannot be made (no settlement account); the message says why."""


@dataclass
class BooksDay:
    bank_account: BankAccount
    day: date
    journal_opening: Decimal = ZERO
    journal_closing: Decimal = ZERO
    statement_opening: Decimal | None = None
    statement_closing: Decimal | None = None
    conclusions: list[Conclusion] = field(default_factory=list)
    covered: dict[int, int] = field(default_factory=dict)  # movement id → the stage-2 discrepancy about it

    @property
    def difference(self) -> Decimal | None:
        return None if self.statement_closing is None else self.statement_closing - self.journal_closing

    def as_json(self, currency: str) -> dict:
        def m(value):
            return None if value is None else money_str(value, currency)

        return {
            "bank_account": self.bank_account.account_no,
            "date": self.day.isoformat(),
            "journal_opening": m(self.journal_opening),
            "journal_closing": m(self.journal_closing),
            "statement_opening": m(self.statement_opening),
            "statement_closing": m(self.statement_closing),
            "difference": m(self.difference),
        }


def statement_balances_between(
    account: BankAccount, first: date, last: date
) -> dict[date, tuple[Decimal | None, Decimal | None]]:
    """The bank's opening and closing balance of the account on each date that has a current fund
    statement of it (one query; a balance no statement of the date states is None)."""
    files = (
        StatementFile.objects.filter(kind="FUND", statement_date__range=(first, last), status=StatementFile.Status.PARSED)
        .exclude(superseded_by__status=StatementFile.Status.PARSED)
        .filter(movements__bank_account=account)
        .distinct()
        .order_by("statement_date", "id")
        .values_list("statement_date", "metadata")
    )
    balances: dict[date, tuple[Decimal | None, Decimal | None]] = {}
    for day, metadata in files:
        opening, closing = balances.get(day, (None, None))
        if opening is None and metadata.get("opening_balance") is not None:
            opening = Decimal(metadata["opening_balance"])
        if metadata.get("closing_balance") is not None:
            closing = Decimal(metadata["closing_balance"])
        balances[day] = (opening, closing)
    return balances


def statement_balances(account: BankAccount, day: date) -> tuple[Decimal | None, Decimal | None]:
    return statement_balances_between(account, day, day).get(day, (None, None))


def books_match(*, account: BankAccount, day: date) -> BooksDay:
    """What a books check of the date concludes, without writing anything."""
    ledger = bank_deposit_account(account)
    b = BooksDay(account, day)
    b.journal_opening = ledger_balance(ledger, day - timedelta(days=1))
    b.journal_closing = ledger_balance(ledger, day)
    b.statement_opening, b.statement_closing = statement_balances(account, day)
    movements = list(
        FundMovement.objects.filter(bank_account=account, statement_date=day, file__status=StatementFile.Status.PARSED)
        .exclude(file__superseded_by__status=StatementFile.Status.PARSED)
        .order_by("file_id", "line_no")
    )
    entries = list(
        Entry.objects.filter(ledger_account=ledger, voucher__status=Voucher.Status.POSTED, voucher__business_date=day)
        .select_related("voucher")
        .order_by("voucher_id", "id")
    )
    by_source = {e.voucher.source_key: e for e in entries if (e.voucher.source_key or "").startswith("fund:")}
    paired: set[int] = set()
    left: list[FundMovement] = []
    for m in movements:
        e = by_source.get(f"fund:{m.pk}")
        if e is not None:
            paired.add(e.pk)
        else:
            left.append(m)
    live_fund = dict(
        Discrepancy.objects.filter(fund_movement__in=[m.pk for m in left], type__in=FUND_TYPES)
        .exclude(state=DiscrepancyState.RESOLVED)
        .values_list("fund_movement_id", "pk")
    )
    for m in left:
        e = next((e for e in entries if e.pk not in paired and e.debit - e.credit == signed(m)), None)
        if e is not None:
            paired.add(e.pk)
            b.conclusions.append(Conclusion(f"BOOK:MOVE:{m.pk}", day, None, movement=m))
        elif m.pk in live_fund and live_fund[m.pk]:
            b.covered[m.pk] = live_fund[m.pk]
        else:
            b.conclusions.append(
                Conclusion(f"BOOK:MOVE:{m.pk}", day, T.JOURNAL_MISSING, effect=signed(m), actual=signed(m), movement=m)
            )
    for e in entries:
        if e.pk not in paired:
            amount = e.debit - e.credit
            b.conclusions.append(Conclusion(f"BOOK:ENTRY:{e.pk}", day, T.JOURNAL_EXTRA, effect=-amount, expected=amount))
    return b


def books_day(*, run: ReconciliationRun, now: datetime, on_phase=lambda phase: None) -> dict:
    """Check the run's channel's settlement account for the run's date; returns the run's totals."""
    account = run.channel.settlement_account
    if account is None:
        raise BooksCheckRefused(f"channel {run.channel.code} has no settlement account to check")
    channel_lock(run.channel_id)
    on_phase("matching")
    b = books_match(account=account, day=run.business_date)
    on_phase("writing")
    f = FundDay(channel=run.channel, day=run.business_date, window_from=run.business_date, window_to=run.business_date)
    f.conclusions = b.conclusions
    seen = conclusions_write(f, run=run, now=now)
    return {**conclusions_totals(f, seen), "books": b.as_json(run.channel.currency), "covered": len(b.covered)}
