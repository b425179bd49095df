"""Stage 2, fund reconciliation (资金对账): the settlements clearing expects (应收应付) against the movements
on our bank accounts (实收实付), for one channel and one date (the date the money moves).

What a run of date D concludes about — its own items — and with what:
- the settlement batches clearing expects to settle on D (``SETTLE:<business date>:<batch>``), and the
  movements of the channel's fund statements dated D (``MOVE:<id>``);
- compared with every expectation and movement within the channel's window around D, so a settlement
  that arrives a day late is matched whichever date is run first, and the same pairs come out whatever
  the order of the runs (every run matches the same set in the same order).

Matching, in this order:
1. Payout items by reference: a debit whose bank or business reference is a confirmed payout's channel
   serial or order number, for its amount, settles that payout.
2. Batch payouts (一笔扣多笔退): a debit with a batch reference pays the batch's items; credits with the same
   batch reference return items — by the item's reference, else by amount — and must return failed items
   only; a return for an item we hold as paid is RETURN_UNMATCHED. What the debit less the returns leaves
   must equal the batch's successful items; until the window ends, returns may still come.
3. Settlement batches: what is left of a batch after its items settled alone is expected as one movement
   in the batch's direction: one whose reference names the batch's business date settles it (or differs:
   SETTLEMENT_AMOUNT_MISMATCH), else one of the same amount within the window. None: SETTLEMENT_MISSING,
   carried while the window lasts.
4. A movement of D that settles nothing is an UNEXPECTED_MOVEMENT (a bank charge, interest, a transfer).

Money moved on a movement that settles (or part-settles) the channel's business is posted: the bank
account against the channel's clearing account, once per movement. Unexpected movements are booked by
the clerk's resolution (调账), not guessed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import LedgerRole, Voucher
from accounts.services.books import Line, ledger_for, voucher_post
from reconciliation.models import (
    DISCREPANCY_MOVES,
    FUND_TYPES,
    RUN_MAY_RECLASSIFY,
    BusinessType,
    Channel,
    Direction,
    Discrepancy,
    DiscrepancyState,
    DiscrepancyType,
    EffectDirection,
    FeeModel,
    FundMovement,
    MatchOutcome,
    PlatformTransaction,
    ReconciliationRun,
    RunFinding,
    RunStage,
    StatementFile,
    WorkflowEvent,
)
from reconciliation.services.channels.calendar import business_days_after
from reconciliation.services.engine.clearing import clearing_compute_days, settlement_batches
from reconciliation.services.postings import bank_deposit_account, channel_clearing_account, channel_lock

T, S, Change, Kind = DiscrepancyType, DiscrepancyState, RunFinding.Change, WorkflowEvent.Kind
PAYOUT_TYPES = (BusinessType.PAYOUT, BusinessType.BATCH_PAYOUT)
# Clearing dates looked at around the run's date: settlement lags (T+1, weekends, holidays) fit in it.
LOOK_BACK_DAYS = 14
# A first fee charge covers the fees billed apart of at most this many days before it (a month's charge).
FEE_CHARGE_LOOK_BACK_DAYS = 31
ZERO = Decimal(0)


@dataclass
class Expected:
    """A settlement batch clearing expects: what is left of it once its items settled alone."""

    key: str
    business_date: date
    batch: int
    settles_on: date
    net: Decimal
    left: Decimal  # net less what its payout items settled alone
    movement: FundMovement | None = None


@dataclass
class Conclusion:
    key: str
    business_date: date
    type: str | None  # None: matched
    effect: Decimal = ZERO
    expected: Decimal | None = None
    actual: Decimal | None = None
    movement: FundMovement | None = None
    related_txn: PlatformTransaction | None = None
    counterpart_date: date | None = None
    waits_until: date | None = None  # set: may still settle, carried over until then
    counted: bool = True  # False: the movement side of a pair already counted by its settlement batch


@dataclass
class FundDay:
    channel: Channel
    day: date
    window_from: date
    window_to: date
    movements: list[FundMovement] = field(default_factory=list)
    used: set[int] = field(default_factory=set)  # movements that settle something
    conclusions: list[Conclusion] = field(default_factory=list)
    settled: dict[int, str] = field(default_factory=dict)  # movement id → what it settled (for postings)
    batch_paid: dict[int, PlatformTransaction] = field(default_factory=dict)  # paid items of batch payouts
    expected: list[Expected] = field(default_factory=list)
    items_settled: set[int] = field(default_factory=set)  # movements that settled one payout alone
    fee_charges: set[int] = field(default_factory=set)  # debits that charge the fees billed apart (外扣)
    _batches: dict[date, list] = field(default_factory=dict)

    def batch_of(self, txn: PlatformTransaction) -> int:
        """The settlement batch clearing puts our transaction in."""
        if txn.business_date not in self._batches:
            self._batches[txn.business_date] = settlement_batches(self.channel, txn.business_date)
        batches = self._batches[txn.business_date]
        if len(batches) == 1:
            return 1
        at = timezone.localtime(txn.created_at).time()
        return next((b.batch for b in batches if b.ends is not None and at <= b.ends), batches[-1].batch)


def signed(m: FundMovement) -> Decimal:
    return m.amount if m.direction == Direction.CREDIT else -m.amount


def _refs(m: FundMovement) -> set[str]:
    return {r for r in (m.bank_ref, m.business_ref) if r}


def _current_movements(channel: Channel, first: date, last: date) -> list[FundMovement]:
    return list(
        FundMovement.objects.filter(channel=channel, statement_date__range=(first, last))
        .filter(file__status=StatementFile.Status.PARSED)
        .exclude(file__superseded_by__status=StatementFile.Status.PARSED)
        .order_by("statement_date", "file_id", "line_no")
    )


def fund_day(*, run: ReconciliationRun, now: datetime, on_phase=lambda phase: None) -> dict:
    """Match one channel's date of money movements; returns the run's outcome totals. The caller holds
    the transaction."""
    channel_lock(run.channel_id)
    f = fund_match(channel=run.channel, day=run.business_date, on_phase=on_phase)
    on_phase("writing")
    seen = conclusions_write(f, run=run, now=now)
    _post(f, now=now)
    return conclusions_totals(f, seen)


def fund_match(*, channel: Channel, day: date, on_phase=lambda phase: None) -> FundDay:
    """What a run of the date concludes, without writing anything (the daily report reads it too)."""
    on_phase("collecting")
    window = max(channel.carry_over_days, 1)
    f = FundDay(
        channel=channel,
        day=day,
        window_from=day - timedelta(days=window + 3),
        window_to=business_days_after(channel=channel, day=day, count=window),
    )
    f.movements = _current_movements(channel, f.window_from, f.window_to)
    f.expected = _expected(f)
    on_phase("matching")
    items = _payout_items(f)
    _batch_payouts(f, items)
    _settle_items(f, items, f.expected)
    _settlements(f, f.expected)
    _fee_charges(f)
    _unexpected(f)
    return f


# --- what clearing expects ---------------------------------------------------------------------------


def _expected(f: FundDay) -> list[Expected]:
    found = []
    first = f.day - timedelta(days=LOOK_BACK_DAYS)
    days = [first + timedelta(days=n) for n in range((f.window_to - first).days + 1)]
    for business_date, clearing in clearing_compute_days(channel=f.channel, days=days).items():
        for b in clearing.batches:
            if b.figures.count and b.figures.net and f.window_from <= b.settles_on <= f.window_to:
                key = f"SETTLE:{business_date.isoformat()}:{b.batch}"
                found.append(Expected(key, business_date, b.batch, b.settles_on, b.figures.net, b.figures.net))
    return sorted(found, key=lambda e: (e.settles_on, e.business_date, e.batch))


# --- payouts settled item by item ----------------------------------------------------------------------


def _payout_items(f: FundDay) -> dict[str, PlatformTransaction]:
    """Our payouts of the window's business dates by every reference a bank may quote (serial, order)."""
    txns = PlatformTransaction.objects.filter(
        channel=f.channel,
        business_type__in=PAYOUT_TYPES,
        business_date__range=(f.window_from - timedelta(days=LOOK_BACK_DAYS), f.window_to),
    )
    by_ref: dict[str, PlatformTransaction] = {}
    for t in txns:
        for ref in (t.channel_txn_no, t.txn_no):
            if ref:
                by_ref.setdefault(ref, t)
    return by_ref


def _settle_items(f: FundDay, items: dict[str, PlatformTransaction], expected: list[Expected]) -> None:
    """A debit quoting a payout we hold as paid, for its amount, settles that payout alone."""
    by_key = {e.key: e for e in expected}
    for m in f.movements:
        if m.pk in f.used or m.direction != Direction.DEBIT or m.batch_ref:
            continue
        txn = next((items[r] for r in _refs(m) if r in items), None)
        if txn is None or txn.status != PlatformTransaction.Status.SUCCESS:
            continue
        f.used.add(m.pk)
        f.settled[m.pk] = txn.txn_no
        f.items_settled.add(m.pk)
        key = f"SETTLE:{txn.business_date.isoformat()}:{f.batch_of(txn)}"
        if key in by_key:
            by_key[key].left += txn.amount
        if m.amount != txn.amount and m.statement_date == f.day:
            f.conclusions.append(
                Conclusion(
                    f"MOVE:{m.pk}", m.statement_date, T.SETTLEMENT_AMOUNT_MISMATCH, effect=txn.amount - m.amount,
                    expected=-txn.amount, actual=signed(m), movement=m, related_txn=txn,
                )
            )  # fmt: skip
        elif m.statement_date == f.day:
            f.conclusions.append(Conclusion(f"MOVE:{m.pk}", m.statement_date, None, movement=m, related_txn=txn))


def _batch_payouts(f: FundDay, items: dict[str, PlatformTransaction]) -> None:
    """一笔扣多笔退: the batch's debit and its returns, against the batch's items."""
    groups: dict[str, list[FundMovement]] = defaultdict(list)
    for m in f.movements:
        if m.batch_ref and m.pk not in f.used:
            groups[m.batch_ref].append(m)
    if not groups:
        return
    batch_items: dict[str, list[PlatformTransaction]] = defaultdict(list)
    for t in PlatformTransaction.objects.filter(channel=f.channel, batch_no__in=list(groups)).order_by("pk"):
        batch_items[t.batch_no].append(t)
    for batch_no, moves in groups.items():
        ours = batch_items.get(batch_no)
        if not ours:
            continue  # not one of our batches: left for the unexpected
        debits = [m for m in moves if m.direction == Direction.DEBIT]
        returns = [m for m in moves if m.direction == Direction.CREDIT]
        failed = [t for t in ours if t.status == PlatformTransaction.Status.FAILED]
        paid = [t for t in ours if t.status == PlatformTransaction.Status.SUCCESS]
        returned: set[int] = set()
        for m in returns:
            f.used.add(m.pk)
            f.settled[m.pk] = batch_no
            target = next((t for t in ours if {t.txn_no, t.channel_txn_no} & _refs(m)), None)
            if target is None:  # no item reference: the first failed item of this amount not yet returned
                target = next((t for t in failed if t.pk not in returned and t.amount == m.amount), None)
            if target is not None and target.status != PlatformTransaction.Status.SUCCESS and target.pk not in returned:
                returned.add(target.pk)
                if m.statement_date == f.day:
                    f.conclusions.append(Conclusion(f"MOVE:{m.pk}", m.statement_date, None, movement=m, related_txn=target))
            elif m.statement_date == f.day:
                f.conclusions.append(
                    Conclusion(
                        f"MOVE:{m.pk}", m.statement_date, T.RETURN_UNMATCHED, effect=m.amount, actual=m.amount,
                        movement=m, related_txn=target,
                    )
                )  # fmt: skip
        for m in debits:
            f.used.add(m.pk)
            f.settled[m.pk] = batch_no
            if m.statement_date != f.day:
                continue
            back = sum((r.amount for r in returns), ZERO)
            due = sum((t.amount for t in paid), ZERO)
            gap = due - (m.amount - back)  # positive: more left the account than the batch paid
            waiting = [t for t in failed if t.pk not in returned]
            if not gap:
                f.conclusions.append(Conclusion(f"MOVE:{m.pk}", m.statement_date, None, movement=m))
                continue
            f.conclusions.append(
                Conclusion(
                    f"MOVE:{m.pk}", m.statement_date, T.SETTLEMENT_AMOUNT_MISMATCH, effect=gap, expected=-due,
                    actual=back - m.amount, movement=m,
                    # Failed items not returned yet: their returns may still come within the window.
                    waits_until=f.window_to if waiting else None,
                )
            )  # fmt: skip
        # The batch's paid items are settled by its debit: they are not expected in a settlement again.
        for t in paid:
            items.pop(t.channel_txn_no, None)
            items.pop(t.txn_no, None)
        f.batch_paid.update({t.pk: t for t in paid})


# --- settlements ---------------------------------------------------------------------------------------


def _settlements(f: FundDay, expected: list[Expected]) -> None:
    for t in f.batch_paid.values():
        key = f"SETTLE:{t.business_date.isoformat()}:{f.batch_of(t)}"
        for e in expected:
            if e.key == key:
                e.left += t.amount
    free = [m for m in f.movements if m.pk not in f.used]
    for e in expected:
        if not e.left:
            if e.settles_on == f.day:
                f.conclusions.append(Conclusion(e.key, e.business_date, None))
            continue
        direction = Direction.CREDIT if e.left > 0 else Direction.DEBIT
        stamp = e.business_date.strftime("%Y%m%d")
        candidates = [m for m in free if m.pk not in f.used and m.direction == direction and m.statement_date >= e.settles_on]
        named = [m for m in candidates if any(stamp in (r or "") for r in (m.batch_ref, m.business_ref, m.bank_ref, m.memo))]
        same = [m for m in candidates if m.amount == abs(e.left)]
        m = (
            next((m for m in named if m.amount == abs(e.left)), None)
            or (named[0] if named else None)
            or (same[0] if same else None)
        )
        if m is not None:
            f.used.add(m.pk)
            f.settled[m.pk] = e.key
            e.movement = m
        if e.settles_on != f.day and (m is None or m.statement_date != f.day):
            continue
        if m is None:
            f.conclusions.append(
                Conclusion(
                    e.key, e.business_date, T.SETTLEMENT_MISSING, effect=-e.left, expected=e.left,
                    waits_until=f.window_to if f.window_to > f.day else None,
                )
            )  # fmt: skip
        elif m.amount != abs(e.left):
            f.conclusions.append(
                Conclusion(
                    e.key, e.business_date, T.SETTLEMENT_AMOUNT_MISMATCH, effect=signed(m) - e.left, expected=e.left,
                    actual=signed(m), movement=m, counterpart_date=m.statement_date,
                )
            )  # fmt: skip
        else:
            late = m.statement_date if m.statement_date != e.settles_on else None
            f.conclusions.append(Conclusion(e.key, e.business_date, None, movement=m, counterpart_date=late))
        if m is not None and m.statement_date == f.day:  # the movement's own conclusion: it settles this batch
            f.conclusions.append(Conclusion(f"MOVE:{m.pk}", m.statement_date, None, movement=m, counted=False))


def _fee_charges(f: FundDay) -> None:
    """外扣: a debit on the account an external fee model bills the channel's fees to is its fee charge,
    expected to equal the fees billed apart since the previous charge (clearing's ``fee_apart``)."""
    billed = set(
        FeeModel.objects.filter(channel=f.channel, charging_mode=FeeModel.ChargingMode.EXTERNAL)
        .exclude(charged_account=None)
        .exclude(charged_account=f.channel.settlement_account)
        .values_list("charged_account_id", flat=True)
    )
    charges = [
        m for m in f.movements
        if m.pk not in f.used and m.direction == Direction.DEBIT and m.bank_account_id in billed and m.statement_date == f.day
    ]  # fmt: skip
    for m in charges:
        earlier = (
            FundMovement.objects.filter(
                channel=f.channel,
                bank_account_id=m.bank_account_id,
                direction=Direction.DEBIT,
                statement_date__lt=m.statement_date,
            )
            .order_by("-statement_date")
            .values_list("statement_date", flat=True)
            .first()
        )
        first = earlier or m.statement_date - timedelta(days=FEE_CHARGE_LOOK_BACK_DAYS)
        days = [first + timedelta(days=n) for n in range((m.statement_date - first).days)]
        due = sum((c.totals.fee_apart for c in clearing_compute_days(channel=f.channel, days=days).values()), ZERO)
        f.used.add(m.pk)
        f.fee_charges.add(m.pk)
        if m.amount == due:
            f.conclusions.append(Conclusion(f"MOVE:{m.pk}", m.statement_date, None, movement=m))
        else:
            f.conclusions.append(
                Conclusion(
                    f"MOVE:{m.pk}", m.statement_date, T.FEE_CHARGE_MISMATCH, effect=due - m.amount, expected=-due,
                    actual=-m.amount, movement=m,
                )
            )  # fmt: skip


def _unexpected(f: FundDay) -> None:
    for m in f.movements:
        if m.pk not in f.used and m.statement_date == f.day:
            f.conclusions.append(
                Conclusion(
                    f"MOVE:{m.pk}", m.statement_date, T.UNEXPECTED_MOVEMENT, effect=signed(m), actual=signed(m), movement=m
                )
            )


# --- writing what the run concluded ----------------------------------------------------------------------


def _direction(effect: Decimal) -> str:
    return EffectDirection.OVERAGE if effect > 0 else EffectDirection.SHORTAGE if effect < 0 else ""


def conclusions_write(f: FundDay, *, run: ReconciliationRun, now: datetime) -> dict[str, int]:
    """Each conclusion against the live discrepancy of its key: close what settled, update or open what is
    still different, create what is new; never a discrepancy a person resolved, never one being worked on
    (proposed, approved) beyond noting it is still there."""
    source = f"run #{run.pk}"
    seen: dict[str, int] = defaultdict(int)
    keys = {c.key for c in f.conclusions}
    fund = Discrepancy.objects.filter(channel=f.channel, type__in=FUND_TYPES, match_key__in=keys)
    live = {d.match_key: d for d in fund.exclude(state=S.RESOLVED)}
    settled_by_person = set(
        fund.filter(state=S.RESOLVED).exclude(closed_as=Discrepancy.ClosedAs.SETTLED).values_list("match_key", flat=True)
    )
    # A movement is worked in one discrepancy. Stage 2 explains a movement better than the book-to-bank
    # check's "not in our journal": a stage-2 finding takes over a JOURNAL_MISSING nobody works on yet (it
    # closes). Otherwise the discrepancy found first keeps the movement while it is live, and once a person
    # resolved it neither check raises the movement again.
    elsewhere: dict[int, list[Discrepancy]] = defaultdict(list)
    for other in (
        Discrepancy.objects.filter(
            channel=f.channel, type__in=FUND_TYPES, fund_movement__in=[c.movement.pk for c in f.conclusions if c.movement]
        )
        .exclude(match_key__in=keys)
        .exclude(state=S.RESOLVED, closed_as=Discrepancy.ClosedAs.SETTLED)
    ):
        elsewhere[other.fund_movement_id].append(other)
    findings: list[RunFinding] = []
    events: list[WorkflowEvent] = []

    def event(d: Discrepancy, kind: str, before: dict, after: dict) -> None:
        events.append(WorkflowEvent(discrepancy=d, kind=kind, at=now, source=source, before=before, after=after))

    for c in f.conclusions:
        d = live.get(c.key)
        if c.type is None:
            if d is not None and d.state in RUN_MAY_RECLASSIFY:
                closing = {"closed_as": Discrepancy.ClosedAs.SETTLED, "resolved_at": now, "matched_run_id": run.pk}
                if _moved(d, S.RESOLVED, closing, now=now):
                    event(d, Kind.MATCHED, {"state": d.state}, {"state": S.RESOLVED, "closed_as": Discrepancy.ClosedAs.SETTLED})
                    findings.append(RunFinding(run=run, discrepancy=d, change=Change.CLOSED))
                    seen[Change.CLOSED] += 1
            continue
        if d is None and c.key in settled_by_person:
            continue
        others = elsewhere.pop(c.movement.pk, []) if c.movement is not None else []
        if others:
            if run.stage != RunStage.FUND or any(
                o.type != T.JOURNAL_MISSING or o.state not in RUN_MAY_RECLASSIFY for o in others
            ):
                elsewhere[c.movement.pk] = others
                if d is not None:  # still there, as it was: the movement is worked in the other one
                    findings.append(RunFinding(run=run, discrepancy=d, change=Change.CONFIRMED))
                    seen[Change.CONFIRMED] += 1
                continue
            for o in others:
                closing = {"closed_as": Discrepancy.ClosedAs.SETTLED, "resolved_at": now, "matched_run_id": run.pk}
                if _moved(o, S.RESOLVED, closing, now=now):
                    after = {"state": S.RESOLVED, "closed_as": Discrepancy.ClosedAs.SETTLED, "explained_as": c.type}
                    event(o, Kind.RECLASSIFIED, {"state": o.state, "type": o.type}, after)
                    findings.append(RunFinding(run=run, discrepancy=o, change=Change.CLOSED))
                    seen[Change.CLOSED] += 1
        state = S.CARRIED_OVER if c.waits_until else S.OPEN
        facts = {
            "type": c.type,
            "business_date": c.business_date,
            "counterpart_date": c.counterpart_date,
            "platform_amount": c.expected,
            "bank_amount": c.actual,
            "effect": c.effect,
            "direction": _direction(c.effect),
            "fund_movement": c.movement,
            "related_txn": c.related_txn,
            "carry_until": c.waits_until,
        }
        if d is None:
            d = Discrepancy.objects.create(
                run=run, channel=f.channel, match_key=c.key, currency=f.channel.currency, state=state, created_at=now,
                updated_at=now, **facts,
            )  # fmt: skip
            event(d, Kind.FOUND, {}, {"state": state, "type": c.type})
            findings.append(RunFinding(run=run, discrepancy=d, change=Change.FOUND))
            seen[Change.FOUND] += 1
            continue
        if d.state not in RUN_MAY_RECLASSIFY:
            findings.append(RunFinding(run=run, discrepancy=d, change=Change.CONFIRMED))
            seen[Change.CONFIRMED] += 1
            continue
        # Carried past its window: open (an open one never goes back to waiting). Different: reclassify in place.
        state = state if state in DISCREPANCY_MOVES[d.state] else d.state
        before = {"state": d.state, "type": d.type, "effect": str(d.effect)}
        differs = d.type != c.type or d.effect != c.effect or d.state != state
        change = Change.CONFIRMED
        if differs and _moved(
            d, state, {**_columns(facts), "carry_until": c.waits_until if state == S.CARRIED_OVER else None}, now=now
        ):
            kind = Kind.OPENED if d.state == S.CARRIED_OVER and state == S.OPEN and d.type == c.type else Kind.RECLASSIFIED
            event(d, kind, before, {"state": state, "type": c.type, "effect": str(c.effect)})
            change = Change.OPENED if kind == Kind.OPENED else Change.UPDATED
        findings.append(RunFinding(run=run, discrepancy=d, change=change))
        seen[change] += 1
    WorkflowEvent.objects.bulk_create(events)
    RunFinding.objects.bulk_create(findings, ignore_conflicts=True)
    return dict(seen)


def _columns(facts: dict) -> dict:
    """Model field names as columns (foreign keys by their id)."""
    return {
        f"{name}_id" if name in ("fund_movement", "related_txn") else name: (value.pk if hasattr(value, "pk") else value)
        for name, value in facts.items()
    }


def _moved(d: Discrepancy, to: str, columns: dict, *, now: datetime) -> bool:
    """A run's guarded move: allowed by DISCREPANCY_MOVES (or no move, only facts) and done as a compare-and-set
    on the state the run saw, so a person's decision meanwhile wins."""
    if to != d.state and to not in DISCREPANCY_MOVES[d.state]:
        return False
    fields = {**columns, "state": to, "updated_at": now}
    names = list(fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Discrepancy._meta.db_table} SET {', '.join(f'{n} = %s' for n in names)} WHERE id = %s AND state = %s",
            [*(fields[n] for n in names), d.pk, d.state],
        )
        return cursor.rowcount == 1


def _post(f: FundDay, *, now: datetime) -> None:
    """The money that moved for the channel's business, on the bank account against the channel's
    clearing account: once per movement (its source key), whichever run sees it first."""
    clearing = channel_clearing_account(f.channel)
    for m in f.movements:
        if m.pk in f.fee_charges and m.statement_date == f.day and m.bank_account is not None:
            voucher_post(
                kind=Voucher.Kind.FEE_CHARGE,
                business_date=m.statement_date,
                memo=_("%(channel)s fee charge") % {"channel": f.channel.code},
                lines=[
                    Line(ledger_for(LedgerRole.CHANNEL_FEE_PAYABLE, f.channel.currency), debit=m.amount),
                    Line(bank_deposit_account(m.bank_account), credit=m.amount),
                ],
                source_key=f"fund:{m.pk}",
                now=now,
            )
            continue
        if m.pk not in f.settled or m.statement_date != f.day:
            continue
        account = m.bank_account or f.channel.settlement_account
        if account is None:
            continue
        bank = bank_deposit_account(account)
        if bank.currency != clearing.currency:
            continue
        lines = (
            [Line(bank, debit=m.amount), Line(clearing, credit=m.amount)]
            if m.direction == Direction.CREDIT
            else [Line(clearing, debit=m.amount), Line(bank, credit=m.amount)]
        )
        voucher_post(
            kind=Voucher.Kind.SETTLEMENT,
            business_date=m.statement_date,
            memo=_("%(channel)s settlement %(ref)s") % {"channel": f.channel.code, "ref": f.settled[m.pk]},
            lines=lines,
            source_key=f"fund:{m.pk}",
            now=now,
        )


def conclusions_totals(f: FundDay, seen: dict[str, int]) -> dict:
    outcomes: dict[str, dict] = {}
    overage = shortage = ZERO
    dates: list[date] = []
    for c in f.conclusions:
        if not c.counted:
            continue
        # A settlement that came after its day is matched across days.
        key = c.type or (MatchOutcome.MATCHED if c.counterpart_date is None else MatchOutcome.MATCHED_CROSS_DAY)
        row = outcomes.setdefault(key, {"count": 0, "amount": "0"})
        row["count"] += 1
        amount = abs(c.actual if c.actual is not None else (c.movement and signed(c.movement)) or c.expected or ZERO)
        row["amount"] = str(Decimal(row["amount"]) + amount)
        if c.type:
            row.setdefault("overage", "0")
            row.setdefault("shortage", "0")
            if c.effect > 0:
                row["overage"] = str(Decimal(row["overage"]) + c.effect)
                overage += c.effect
            elif c.effect < 0:
                row["shortage"] = str(Decimal(row["shortage"]) + c.effect)
                shortage += c.effect
            dates.append(c.business_date)
    return {
        "outcomes": outcomes,
        "overage": str(overage),
        "shortage": str(shortage),
        "dates": [min(dates).isoformat(), max(dates).isoformat()] if dates else [],
        "discrepancies": seen,
    }
