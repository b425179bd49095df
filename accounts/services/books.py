"""The books' operations: the chart, posting a voucher (once), offline items with a checker's approval,
reversals, balances and the trial balance.

Every voucher goes through ``_voucher_write``: the entries are checked here for a clear message and again
by the database when the transaction commits (accounts/models/books.py), so nothing unbalanced is ever
written, whoever writes it. A voucher's status changes only through ``voucher_move`` (compare-and-set
against VOUCHER_MOVES).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from accounts.models import DEBIT_NORMAL, VOUCHER_MOVES, Entry, LedgerAccount, LedgerRole, Voucher
from backoffice.core.money import is_on_minor_unit, money_str

ZERO = Decimal(0)
OFFLINE_PERMISSION = "accounts.add_voucher"
APPROVE_PERMISSION = "accounts.approve_voucher"
MIN_MEMO_LENGTH = 5

# The accounts every currency's books hold, found by role: (code, name, type).
CHART: dict[str, tuple[str, str, str]] = {
    LedgerRole.CUSTOMER_PAYABLE: ("2203.01", "客户备付金余额", LedgerAccount.Type.LIABILITY),
    LedgerRole.MERCHANT_PAYABLE: ("2202.01", "应付账款-商户结算款", LedgerAccount.Type.LIABILITY),
    LedgerRole.CHANNEL_FEE_PAYABLE: ("2202.02", "应付账款-渠道手续费", LedgerAccount.Type.LIABILITY),
    LedgerRole.SUSPENSE: ("2241.01", "其他应付款-待处理差错", LedgerAccount.Type.LIABILITY),
    LedgerRole.FEE_EXPENSE: ("6421.01", "手续费支出-渠道", LedgerAccount.Type.EXPENSE),
    LedgerRole.FEE_INCOME: ("6021.01", "手续费收入", LedgerAccount.Type.INCOME),
    LedgerRole.WRITE_OFF_EXPENSE: ("6711.02", "营业外支出-差错核销", LedgerAccount.Type.EXPENSE),
    LedgerRole.WRITE_OFF_INCOME: ("6301.02", "营业外收入-差错核销", LedgerAccount.Type.INCOME),
    LedgerRole.EQUITY: ("4001.01", "实收资本", LedgerAccount.Type.EQUITY),
}


class BooksRefused(Exception):
    """A posting or a decision the books' rules refuse, with a message for the person who tried it."""


@dataclass(frozen=True)
class Line:
    """One entry to write: a debit or a credit (the other zero) on a ledger account."""

    ledger_account: LedgerAccount
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    party_account_id: int | None = None
    memo: str = ""


# --- The chart -------------------------------------------------------------------------------------


def ledger_account_ensure(*, code: str, name: str, type: str, role: str, currency: str) -> LedgerAccount:
    """The chart's account of this code and currency, created on first use."""
    account, _created = LedgerAccount.objects.get_or_create(
        code=code, currency=currency, defaults={"name": name, "type": type, "role": role}
    )
    return account


def ledger_for(role: str, currency: str) -> LedgerAccount:
    """The currency's account of one of the chart's shared roles (suspense, fee expense, …)."""
    code, name, kind = CHART[role]
    return ledger_account_ensure(code=code, name=name, type=kind, role=role, currency=currency)


def chart_ensure(currency: str) -> list[LedgerAccount]:
    return [ledger_for(role, currency) for role in CHART]


# --- Writing vouchers ------------------------------------------------------------------------------


def _checked(lines: Sequence[Line]) -> None:
    if len(lines) < 2:
        raise BooksRefused(_("A voucher needs at least two entries."))
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for n, line in enumerate(lines, start=1):
        account = line.ledger_account
        if (line.debit > 0) == (line.credit > 0) or line.debit < 0 or line.credit < 0:
            raise BooksRefused(_("Entry %(n)d: give a positive debit or a positive credit, not both.") % {"n": n})
        amount = line.debit or line.credit
        if not is_on_minor_unit(amount, account.currency):
            raise BooksRefused(
                _("Entry %(n)d: %(amount)s has more decimals than %(currency)s allows.")
                % {"n": n, "amount": amount, "currency": account.currency}
            )
        if not account.is_active:
            raise BooksRefused(_("Entry %(n)d: ledger account %(code)s is closed.") % {"n": n, "code": account.code})
        totals[account.currency] += line.debit - line.credit
    for currency, gap in sorted(totals.items()):
        if gap:
            raise BooksRefused(
                _("The voucher does not balance in %(currency)s: debits exceed credits by %(gap)s.")
                % {"currency": currency, "gap": money_str(gap, currency)}
            )


def _next_number(business_date: date) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('accounts_voucher_number')")
        (n,) = cursor.fetchone()
    return f"V{business_date:%Y%m%d}-{n:06d}"


def _voucher_write(
    *, kind: str, business_date: date, memo: str, lines: Sequence[Line], status: str, now: datetime, **fields
) -> Voucher:
    _checked(lines)
    voucher = Voucher.objects.create(
        number=_next_number(business_date),
        kind=kind,
        business_date=business_date,
        memo=memo[:300],
        status=status,
        posted_at=now if status == Voucher.Status.POSTED else None,
        **fields,
    )
    Entry.objects.bulk_create(
        Entry(
            voucher=voucher,
            ledger_account=line.ledger_account,
            party_account_id=line.party_account_id,
            debit=line.debit,
            credit=line.credit,
            currency=line.ledger_account.currency,
            memo=line.memo[:300],
        )
        for line in lines
    )
    return voucher


def voucher_post(
    *, kind: str, business_date: date, memo: str, lines: Sequence[Line], source_key: str, now: datetime, scope: str = ""
) -> Voucher:
    """Post what the business did, once: a second call with the same ``source_key`` (a re-run, a retried
    task, a double click) returns the voucher the first one posted and writes nothing."""
    if existing := Voucher.objects.filter(source_key=source_key).first():
        return existing
    try:
        with transaction.atomic():
            return _voucher_write(
                kind=kind,
                business_date=business_date,
                memo=memo,
                lines=lines,
                status=Voucher.Status.POSTED,
                now=now,
                source_key=source_key,
                scope=scope,
            )
    except IntegrityError:
        # Posted meanwhile by a concurrent call with the same key.
        if existing := Voucher.objects.filter(source_key=source_key).first():
            return existing
        raise


def voucher_propose(*, business_date: date, memo: str, lines: Sequence[Line], acting_user, now: datetime) -> Voucher:
    """线下补录: a clerk enters an item the business did outside the system; it is posted only once a
    checker approves it."""
    if not acting_user.has_perm(OFFLINE_PERMISSION):
        raise BooksRefused(_("You are not allowed to enter vouchers."))
    if len(memo.strip()) < MIN_MEMO_LENGTH:
        raise BooksRefused(_("Say what the voucher books (at least %(n)d characters).") % {"n": MIN_MEMO_LENGTH})
    with transaction.atomic():
        return _voucher_write(
            kind=Voucher.Kind.OFFLINE,
            business_date=business_date,
            memo=memo.strip(),
            lines=lines,
            status=Voucher.Status.PROPOSED,
            now=now,
            proposed_by=acting_user,
        )


def voucher_move(*, voucher: Voucher, to: str, now: datetime, **changes) -> Voucher:
    """The one writer of a voucher's status: allowed by VOUCHER_MOVES and done as a compare-and-set on the
    status the caller saw, so a concurrent decision makes this one fail instead of being overwritten."""
    if to not in VOUCHER_MOVES.get(voucher.status, set()):
        raise BooksRefused(
            _("A voucher that is %(from)s cannot become %(to)s.")
            % {"from": Voucher.Status(voucher.status).label.lower(), "to": Voucher.Status(to).label.lower()}
        )
    if to == Voucher.Status.POSTED:
        changes["posted_at"] = now
    moved = Voucher.objects.filter(pk=voucher.pk, status=voucher.status).update(status=to, **changes)
    if not moved:
        raise BooksRefused(_("Voucher %(number)s was decided meanwhile; reload it.") % {"number": voucher.number})
    voucher.refresh_from_db()
    return voucher


def _decide(*, voucher: Voucher, to: str, comment: str, acting_user, now: datetime) -> Voucher:
    if not acting_user.has_perm(APPROVE_PERMISSION):
        raise BooksRefused(_("You are not allowed to approve vouchers."))
    if voucher.proposed_by_id == acting_user.pk:
        raise BooksRefused(_("A voucher is approved by someone other than the person who entered it."))
    with transaction.atomic():
        return voucher_move(voucher=voucher, to=to, now=now, decided_by=acting_user, decision_comment=comment[:300])


def voucher_approve(*, voucher: Voucher, comment: str = "", acting_user, now: datetime) -> Voucher:
    return _decide(voucher=voucher, to=Voucher.Status.POSTED, comment=comment, acting_user=acting_user, now=now)


def voucher_reject(*, voucher: Voucher, comment: str, acting_user, now: datetime) -> Voucher:
    if not comment.strip():
        raise BooksRefused(_("Say why the voucher is rejected."))
    return _decide(voucher=voucher, to=Voucher.Status.REJECTED, comment=comment, acting_user=acting_user, now=now)


def voucher_reverse(*, voucher: Voucher, business_date: date, memo: str, now: datetime, source_key: str) -> Voucher:
    """冲正: a posted voucher's effect cancelled by a voucher of its own, every entry on the other side."""
    if voucher.status != Voucher.Status.POSTED:
        raise BooksRefused(_("Only a posted voucher can be reversed."))
    if Voucher.objects.filter(reversal_of=voucher).exists():
        raise BooksRefused(_("Voucher %(number)s is already reversed.") % {"number": voucher.number})
    lines = [
        Line(e.ledger_account, debit=e.credit, credit=e.debit, party_account_id=e.party_account_id, memo=e.memo)
        for e in voucher.entries.select_related("ledger_account")
    ]
    with transaction.atomic():
        return _voucher_write(
            kind=Voucher.Kind.REVERSAL,
            business_date=business_date,
            memo=memo,
            lines=lines,
            status=Voucher.Status.POSTED,
            now=now,
            source_key=source_key,
            scope=voucher.scope,
            reversal_of=voucher,
        )


# --- Balances --------------------------------------------------------------------------------------


def posted_entries(as_of: date | None = None):
    entries = Entry.objects.filter(voucher__status=Voucher.Status.POSTED)
    return entries.filter(voucher__business_date__lte=as_of) if as_of else entries


def signed_balance(account: LedgerAccount, debit: Decimal, credit: Decimal) -> Decimal:
    """A balance on the account's normal side: debits less credits for assets and expenses, the reverse
    for liabilities, equity and income."""
    return debit - credit if account.type in DEBIT_NORMAL else credit - debit


def ledger_balance(account: LedgerAccount, as_of: date | None = None) -> Decimal:
    sums = posted_entries(as_of).filter(ledger_account=account).aggregate(d=Sum("debit"), c=Sum("credit"))
    return signed_balance(account, sums["d"] or ZERO, sums["c"] or ZERO)


def party_balance(party_account_id: int, as_of: date | None = None) -> Decimal:
    """What we owe a customer or merchant account: its entries on the payable accounts (credit less debit)."""
    sums = (
        posted_entries(as_of)
        .filter(party_account_id=party_account_id)
        .filter(Q(ledger_account__role=LedgerRole.CUSTOMER_PAYABLE) | Q(ledger_account__role=LedgerRole.MERCHANT_PAYABLE))
        .aggregate(d=Sum("debit"), c=Sum("credit"))
    )
    return (sums["c"] or ZERO) - (sums["d"] or ZERO)


@dataclass(frozen=True)
class TrialBalanceRow:
    account: LedgerAccount
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        return signed_balance(self.account, self.debit, self.credit)


@dataclass
class TrialBalance:
    as_of: date
    rows: list[TrialBalanceRow] = field(default_factory=list)
    # per currency: (total debits, total credits)
    totals: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return all(debit == credit for debit, credit in self.totals.values())


def trial_balance(*, as_of: date) -> TrialBalance:
    """Per ledger account the debits and credits posted up to and including ``as_of`` and the balance;
    per currency the totals, which balance when the books do."""
    sums = {
        row["ledger_account"]: (row["d"], row["c"])
        for row in posted_entries(as_of).values("ledger_account").annotate(d=Sum("debit"), c=Sum("credit"))
    }
    report = TrialBalance(as_of=as_of)
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for account in LedgerAccount.objects.order_by("currency", "code"):
        debit, credit = sums.get(account.pk, (ZERO, ZERO))
        report.rows.append(TrialBalanceRow(account, debit, credit))
        totals[account.currency][0] += debit
        totals[account.currency][1] += credit
    report.totals = {currency: (d, c) for currency, (d, c) in sorted(totals.items())}
    return report
