"""The business into the books: what our transactions, resolutions and channels post, and to which
accounts of the chart.

A channel's day of transactions is posted by difference: per business type, what the day's successful
transactions come to on each account (and customer or merchant account) less what that day's vouchers
of the same scope already posted. The first run of a day posts it whole; a re-run with unchanged inputs
posts nothing; a late record, a 补单 or an accepted amount posts just what it changes. Nothing is
posted twice, and nothing is marked on the transactions themselves (a million rows are not rewritten).

Accounts (LedgerRole): a collection is owed to us by the channel (CHANNEL_CLEARING, 应收渠道款) and owed by
us to the merchant (MERCHANT_PAYABLE); a recharge is owed to the customer (CUSTOMER_PAYABLE); a refund and
a payout reverse those; the channel's fee is our expense, deducted by the channel (内扣: less clearing) or
billed apart (外扣: CHANNEL_FEE_PAYABLE until the charge arrives).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import LedgerAccount, LedgerRole, Voucher
from accounts.services.books import CHART, Line, chart_ensure, ledger_account_ensure, ledger_for, voucher_post
from reconciliation.models import BankAccount, BusinessType, Channel, FeeModel, PlatformTransaction

B = BusinessType
# Serialises what changes a channel's day: its runs and the postings of its resolutions.
CHANNEL_LOCK_NAMESPACE = 7304

# The voucher kind of each business type's postings.
POSTING_KIND = {
    B.COLLECTION: Voucher.Kind.COLLECTION,
    B.RECHARGE: Voucher.Kind.COLLECTION,
    B.OTHER: Voucher.Kind.COLLECTION,
    B.REFUND: Voucher.Kind.REFUND,
    B.PAYOUT: Voucher.Kind.PAYOUT,
    B.BATCH_PAYOUT: Voucher.Kind.PAYOUT,
}
# Who is owed money in or owes money out: a merchant (collections, refunds) or a customer.
_PARTY_ROLE = {
    B.COLLECTION: LedgerRole.MERCHANT_PAYABLE,
    B.OTHER: LedgerRole.MERCHANT_PAYABLE,
    B.REFUND: LedgerRole.MERCHANT_PAYABLE,
    B.RECHARGE: LedgerRole.CUSTOMER_PAYABLE,
    B.PAYOUT: LedgerRole.CUSTOMER_PAYABLE,
    B.BATCH_PAYOUT: LedgerRole.CUSTOMER_PAYABLE,
}
_MONEY_IN = {B.COLLECTION, B.RECHARGE, B.OTHER}


def channel_lock(channel_id: int) -> None:
    """Hold the channel's lock until the transaction ends (re-entrant: a run already holding it may call)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CHANNEL_LOCK_NAMESPACE, channel_id])


def channel_clearing_account(channel: Channel) -> LedgerAccount:
    return ledger_account_ensure(
        code=f"1122.{channel.code}",
        name=f"应收应付渠道款-{channel.name or channel.code}",
        type=LedgerAccount.Type.ASSET,
        role=LedgerRole.CHANNEL_CLEARING,
        currency=channel.currency,
    )


def bank_deposit_account(bank_account: BankAccount) -> LedgerAccount:
    return ledger_account_ensure(
        code=f"1002.{bank_account.bank.code}.{bank_account.account_no}",
        name=f"银行存款-{bank_account.account_name}",
        type=LedgerAccount.Type.ASSET,
        role=LedgerRole.BANK_DEPOSIT,
        currency=bank_account.currency,
    )


def chart_seed(*, bank_accounts=(), channels=()) -> None:
    """The chart as the configuration implies it, seeded when a bank account or a channel is saved rather
    than on first use: the shared accounts of its currency, each bank account's reserve deposit account
    (1002.<bank>.<account>) and each channel's clearing account (1122.<channel>). Idempotent."""
    for account in bank_accounts:
        chart_ensure(account.currency)
        bank_deposit_account(account)
    for channel in channels:
        chart_ensure(channel.currency)
        channel_clearing_account(channel)


def chart_follows_configuration(sender, instance, raw: bool = False, **kwargs) -> None:
    """post_save receiver of BankAccount and Channel (a fixture being loaded seeds nothing)."""
    if raw:
        return
    if isinstance(instance, BankAccount):
        chart_seed(bank_accounts=[instance])
    elif isinstance(instance, Channel):
        chart_seed(channels=[instance])


def _fee_billed_apart(channel: Channel, business_type: str, day: date) -> bool:
    """外扣: the fee model of the type valid on the day bills the fee apart from the settlement."""
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))
    model = (
        FeeModel.objects.filter(channel=channel, business_type=business_type, valid_from__lt=end).order_by("-valid_from").first()
    )
    return model is not None and model.charging_mode == FeeModel.ChargingMode.EXTERNAL


def _day_sums(channel: Channel, day: date) -> list[tuple[str, int | None, Decimal, Decimal]]:
    """(business type, customer or merchant account, amount, fee) of the channel's successful
    transactions of the day: one set query."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT business_type, account_id, SUM(amount), SUM(fee)
            FROM {PlatformTransaction._meta.db_table}
            WHERE channel_id = %s AND business_date = %s AND status = %s
            GROUP BY business_type, account_id
            """,
            [channel.pk, day, PlatformTransaction.Status.SUCCESS],
        )
        return cursor.fetchall()


def day_target(channel: Channel, day: date) -> dict[str, dict[tuple[int, int | None], Decimal]]:
    """Per business type, what the day should have posted: (ledger account, party) → debit less credit."""
    clearing = channel_clearing_account(channel)
    targets: dict[str, dict[tuple[int, int | None], Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    apart: dict[str, bool] = {}
    for business_type, party, amount, fee in _day_sums(channel, day):
        t = targets[business_type]
        payable = ledger_for(_PARTY_ROLE.get(business_type, LedgerRole.MERCHANT_PAYABLE), channel.currency)
        sign = 1 if business_type in _MONEY_IN else -1
        t[(clearing.pk, None)] += sign * amount
        t[(payable.pk, party)] -= sign * amount
        if fee:
            if business_type not in apart:
                apart[business_type] = _fee_billed_apart(channel, business_type, day)
            owed = ledger_for(LedgerRole.CHANNEL_FEE_PAYABLE, channel.currency) if apart[business_type] else clearing
            t[(ledger_for(LedgerRole.FEE_EXPENSE, channel.currency).pk, None)] += fee
            t[(owed.pk, None)] -= fee
    return targets


def scope_posted(scope: str) -> dict[tuple[int, int | None], Decimal]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.ledger_account_id, e.party_account_id, SUM(e.debit - e.credit)
            FROM accounts_entry e JOIN accounts_voucher v ON v.id = e.voucher_id
            WHERE v.scope = %s AND v.status = %s
            GROUP BY 1, 2
            """,
            [scope, Voucher.Status.POSTED],
        )
        return {(account, party): total for account, party, total in cursor.fetchall()}


def day_scope(channel: Channel, day: date, business_type: str) -> str:
    return f"txn:{channel.code}:{day.isoformat()}:{business_type}"


def day_post(
    *, channel: Channel, day: date, now: datetime, kind: str | None = None, source_key: str | None = None, why: str = ""
) -> list[Voucher]:
    """Post the difference between the channel's day of successful transactions and what its vouchers
    already hold, one voucher per business type that changed. ``kind`` and ``source_key`` name the
    postings a resolution makes (a 补单 posts as a supplement, once per resolution); ``why`` ends the memo."""
    channel_lock(channel.pk)
    accounts = {a.pk: a for a in LedgerAccount.objects.filter(currency=channel.currency)}
    posted: list[Voucher] = []
    for business_type, target in sorted(day_target(channel, day).items()):
        scope = day_scope(channel, day, business_type)
        already = scope_posted(scope)
        keys = set(target) | set(already)
        lines = []
        for account_id, party in sorted(keys, key=lambda k: (k[0], k[1] or 0)):
            gap = target.get((account_id, party), Decimal(0)) - already.get((account_id, party), Decimal(0))
            if gap:
                account = accounts.get(account_id) or LedgerAccount.objects.get(pk=account_id)
                lines.append(Line(account, debit=max(gap, 0), credit=max(-gap, 0), party_account_id=party))
        if not lines:
            continue
        count = Voucher.objects.filter(scope=scope).count()
        label = BusinessType(business_type).label
        posted.append(
            voucher_post(
                kind=kind or POSTING_KIND.get(business_type, Voucher.Kind.COLLECTION),
                business_date=day,
                memo=" · ".join(
                    filter(
                        None, [_("%(channel)s %(date)s: %(type)s") % {"channel": channel.code, "date": day, "type": label}, why]
                    )
                ),
                lines=lines,
                source_key=f"{source_key}:{business_type}" if source_key else f"{scope}:{count + 1}",
                now=now,
                scope=scope,
            )
        )
    return posted


def write_off_post(*, channel: Channel, day: date, effect: Decimal, memo: str, source_key: str, now: datetime) -> Voucher:
    """A shortage written off is an expense (the channel owes us less than our books say); an overage an
    income (we keep what we cannot return)."""
    clearing = channel_clearing_account(channel)
    amount = abs(effect)
    if effect < 0:
        lines = [Line(ledger_for(LedgerRole.WRITE_OFF_EXPENSE, channel.currency), debit=amount), Line(clearing, credit=amount)]
    else:
        lines = [Line(clearing, debit=amount), Line(ledger_for(LedgerRole.WRITE_OFF_INCOME, channel.currency), credit=amount)]
    return voucher_post(kind=Voucher.Kind.WRITE_OFF, business_date=day, memo=memo, lines=lines, source_key=source_key, now=now)


def adjustment_post(
    *, debit: LedgerAccount, credit: LedgerAccount, amount: Decimal, day: date, memo: str, source_key: str, now: datetime
) -> Voucher:
    """调账: one amount from one account of the chart to another."""
    return voucher_post(
        kind=Voucher.Kind.ADJUSTMENT,
        business_date=day,
        memo=memo,
        lines=[Line(debit, debit=amount), Line(credit, credit=amount)],
        source_key=source_key,
        now=now,
    )


def chart_account(code: str, currency: str) -> LedgerAccount | None:
    """An active account of the chart by its code in the currency (the chart's shared accounts exist
    from the first use of the currency)."""
    found = LedgerAccount.objects.filter(code=code, currency=currency, is_active=True).first()
    if found is None and code in {c for c, _name, _type in CHART.values()}:
        chart_ensure(currency)  # a shared account of a currency not used yet
        found = LedgerAccount.objects.filter(code=code, currency=currency, is_active=True).first()
    return found
