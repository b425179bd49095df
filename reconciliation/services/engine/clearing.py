"""Clearing (清分): what a channel owes us or we owe it for a business date, per settlement batch and per
merchant, from the transactions stage 1 confirmed and the fee model valid at each transaction's time.

- Confirmed: our successful transactions of the date, except those the channel does not hold as paid (a
  live platform-only item, or a status mismatch where the channel's status is not success).
- Batches: a T+1 channel settles the date once, on the next business day. A T+0 channel settles at its
  settlement times: a transaction made up to the first time is in batch 1, up to the second in batch 2, and
  so on; one made after the last time settles in the next business day's first settlement (the last batch).
- Amounts are signed from our side: money in (collections, recharges) positive, money out (refunds,
  payouts) negative. The fee is what our model expects (a refund's fee returned, so negative). Charged
  internally (内扣) the channel nets it: net = gross − fee. Charged externally (外扣) the settlement is gross
  and the fee is billed apart (``fee_apart``), expected as its own item.
- net > 0 is receivable from the channel (应收), net < 0 payable to it (应付).

One set query over the date's transactions; nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Merchant
from backoffice.core.db import sql_list
from backoffice.core.db import sql_str as q
from backoffice.core.money import minor_places, money_str
from reconciliation.models import (
    BusinessType,
    Channel,
    Discrepancy,
    DiscrepancyState,
    DiscrepancyType,
    FeeModel,
    PlatformTransaction,
)
from reconciliation.services.channels.calendar import business_days_after
from reconciliation.services.engine.stage1 import FEE_BRACKET_JOIN, collect_fee_brackets, expected_fee_sql

B = BusinessType
MONEY_IN = (B.COLLECTION, B.RECHARGE, B.OTHER)
ZERO = Decimal(0)


@dataclass
class Figures:
    count: int = 0
    gross: Decimal = ZERO
    fee: Decimal = ZERO  # every fee our model expects, netted or billed apart
    fee_apart: Decimal = ZERO  # of which billed apart (外扣)
    net: Decimal = ZERO  # what the settlement carries

    def add(self, other: Figures) -> None:
        self.count += other.count
        self.gross += other.gross
        self.fee += other.fee
        self.fee_apart += other.fee_apart
        self.net += other.net

    def as_json(self, currency: str) -> dict:
        return {
            "count": self.count,
            "gross": money_str(self.gross, currency),
            "fee": money_str(self.fee, currency),
            "fee_apart": money_str(self.fee_apart, currency),
            "net": money_str(self.net, currency),
        }


@dataclass
class SettlementBatch:
    batch: int
    settles_on: date
    # The transactions' local times the batch takes: after ``starts`` (exclusive) up to ``ends`` (inclusive).
    starts: time | None
    ends: time | None
    figures: Figures = field(default_factory=Figures)


@dataclass
class MerchantClearing:
    merchant_no: str
    name: str
    figures: Figures = field(default_factory=Figures)


@dataclass
class Clearing:
    channel: Channel
    business_date: date
    currency: str
    batches: list[SettlementBatch]
    merchants: list[MerchantClearing]
    totals: Figures

    def as_json(self) -> dict:
        c = self.currency
        return {
            "channel": self.channel.code,
            "business_date": self.business_date.isoformat(),
            "currency": c,
            "settlement_cycle": self.channel.settlement_cycle,
            "batches": [
                {"batch": b.batch, "settles_on": b.settles_on.isoformat(), **b.figures.as_json(c), "currency": c}
                for b in self.batches
            ],
            "merchants": [{"merchant_no": m.merchant_no, "name": m.name, **m.figures.as_json(c)} for m in self.merchants],
            "totals": {**self.totals.as_json(c), "currency": c},
        }


def settlement_batches(channel: Channel, day: date) -> list[SettlementBatch]:
    """The date's settlement batches, empty of figures."""
    next_day = business_days_after(channel=channel, day=day, count=1)
    times = sorted(channel.settlement_times or [])
    if channel.settlement_cycle != Channel.SettlementCycle.T0:
        return [SettlementBatch(1, next_day, None, None)]
    if not times:  # T+0 without settlement times: once, the same day
        return [SettlementBatch(1, day, None, None)]
    batches = [SettlementBatch(n, day, times[n - 2] if n > 1 else None, t) for n, t in enumerate(times, start=1)]
    batches.append(SettlementBatch(len(times) + 1, next_day, times[-1], None))
    return batches


def clearing_compute(*, channel: Channel, day: date) -> Clearing:
    return clearing_compute_days(channel=channel, days=[day])[day]


def clearing_compute_days(*, channel: Channel, days: Sequence[date]) -> dict[date, Clearing]:
    """Clearing of each of the dates: one set query for them all (stage 2 reads a span of dates per run)."""
    days = sorted(set(days))
    batches = {day: settlement_batches(channel, day) for day in days}
    # The batch times are the channel's, the same every date; a date's batches differ only in their dates.
    first = batches[days[0]] if days else []
    times = [b.ends for b in first if b.ends is not None] if len(first) > 1 else []
    not_held = sql_list(
        [DiscrepancyState.CARRIED_OVER, DiscrepancyState.OPEN, DiscrepancyState.PROPOSED, DiscrepancyState.APPROVED]
    )
    expected = expected_fee_sql("p.amount")
    with transaction.atomic(), connection.cursor() as cursor:
        collect_fee_brackets(channel.pk)
        cursor.execute(
            f"""
            SELECT p.business_date,
                   (SELECT count(*) FROM unnest(%(times)s::time[]) s WHERE s < (p.created_at AT TIME ZONE %(tz)s)::time) + 1,
                   p.merchant_id, p.business_type, COALESCE(f.charging_mode, {q(FeeModel.ChargingMode.INTERNAL)}),
                   count(*), sum(p.amount), COALESCE(sum({expected}), 0)
            FROM {PlatformTransaction._meta.db_table} p
            {FEE_BRACKET_JOIN}
            WHERE p.channel_id = %(channel)s AND p.business_date = ANY(%(days)s::date[])
              AND p.status = {q(PlatformTransaction.Status.SUCCESS)}
              AND NOT EXISTS (
                SELECT 1 FROM {Discrepancy._meta.db_table} d
                WHERE d.platform_txn_id = p.id AND d.state IN ({not_held})
                  AND (d.type = {q(DiscrepancyType.PLATFORM_ONLY)}
                       OR (d.type = {q(DiscrepancyType.STATUS_MISMATCH)} AND d.bank_status <> 'SUCCESS')))
            GROUP BY 1, 2, 3, 4, 5
            """,
            {
                "times": times,
                "tz": timezone.get_current_timezone_name(),
                "channel": channel.pk,
                "days": days,
                "places": minor_places(channel.currency),
                "scale": Decimal(10) ** minor_places(channel.currency),
            },
        )
        rows = cursor.fetchall()
        cursor.execute("DROP TABLE rc_fee")
    known = {
        pk: (no, name)
        for pk, no, name in Merchant.objects.filter(pk__in={r[2] for r in rows if r[2]}).values_list("pk", "merchant_no", "name")
    }
    merchants: dict[date, dict[int | None, MerchantClearing]] = {day: {} for day in days}
    totals = {day: Figures() for day in days}
    for day, batch_no, merchant_id, business_type, mode, count, amount, fee in rows:
        sign = 1 if business_type in MONEY_IN else -1
        fee_signed = -fee if business_type == B.REFUND else fee
        apart = mode == FeeModel.ChargingMode.EXTERNAL
        part = Figures(
            count=count,
            gross=sign * amount,
            fee=fee_signed,
            fee_apart=fee_signed if apart else ZERO,
            net=sign * amount - (ZERO if apart else fee_signed),
        )
        batches[day][min(batch_no, len(batches[day])) - 1].figures.add(part)
        if merchant_id not in merchants[day]:
            merchants[day][merchant_id] = MerchantClearing(*known.get(merchant_id, ("", "")))
        merchants[day][merchant_id].figures.add(part)
        totals[day].add(part)
    return {
        day: Clearing(
            channel=channel,
            business_date=day,
            currency=channel.currency,
            batches=batches[day],
            merchants=sorted(merchants[day].values(), key=lambda m: (m.merchant_no == "", m.merchant_no)),
            totals=totals[day],
        )
        for day in days
    }
