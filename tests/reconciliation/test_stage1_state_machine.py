"""A Hypothesis state machine over several business days of one channel: the channel's files and our
records arrive in any order (late ones too), dates are run and run again in any order, people propose,
approve and reject, pair items manually, carry-overs expire. After every step:

- no item is live twice, and an item once settled (a resolved discrepancy concerns it, no live one does)
  never becomes live again;
- our transactions are never created twice (a 补单 never duplicates an order we hold);
- running every date again, in any order, changes nothing: the same live discrepancies in the same
  states, no new discrepancy, no new transaction;
- and then, with every date run after the last change: per currency, the channel's total minus ours equals
  the sum of the live discrepancies' effects plus what people booked (written off, adjusted);
- the tally the queue and the dashboard read adds up to the discrepancies;
- the books: every voucher balances (the database's deferred checks forced now), the trial balance
  balances, each account's balance is the sum of its entries, the vouchers of every run day hold exactly
  what our successful records of the day come to (nothing posted twice, nothing missing), and running
  every date again posts nothing.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.db.models import Q, Sum
from django.utils import timezone
from helpers import D, RolledBackMachine, books_hold, fee_of, lines, reconcile
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule, run_state_machine_as_test

from accounts.models import Voucher
from reconciliation.models import (
    BusinessType,
    Discrepancy,
    DiscrepancyState,
    PlatformTransaction,
    StatementLine,
    TransactionConflict,
)
from reconciliation.selectors.discrepancies import tally_differences
from reconciliation.services.engine.runs import discrepancies_open_expired
from reconciliation.services.intake.transactions import TransactionBatchRefused, TransactionInput, transactions_upsert
from reconciliation.services.postings import day_scope, day_target, scope_posted
from reconciliation.services.workflow.pairing import discrepancies_pair
from reconciliation.services.workflow.resolution import (
    ALLOWED_ACTIONS,
    WorkflowRefused,
    discrepancy_propose,
    resolution_approve,
    resolution_reject,
)

DAYS = [D + timedelta(days=n) for n in range(5)]
KEYS = [f"K{n}" for n in range(8)]
AMOUNTS = [Decimal("10.00"), Decimal("10.50"), Decimal("25.00")]
BOOKED = (Discrepancy.ClosedAs.WRITTEN_OFF, Discrepancy.ClosedAs.ADJUSTED)
_channels = count(1)


class StageOneDays(RolledBackMachine):
    @initialize()
    def set_up(self):
        self.channel = self.fixtures["make_channel"](f"SM{next(_channels)}", carry_over_days=2, write_off_threshold=100)
        self.fixtures["make_fee_model"](self.channel, business_type=BusinessType.COLLECTION, rate=Decimal("0.006"))
        self.clerk, self.checker = self.fixtures["clerk"], self.fixtures["checker"]
        self.run_days: set = set()
        self.settled_txns: set[int] = set()
        self.settled_lines: set[int] = set()

    # --- the world changes -----------------------------------------------------------------------

    @rule(
        day=st.sampled_from(DAYS),
        key=st.sampled_from(KEYS),
        amount=st.sampled_from(AMOUNTS),
        status=st.sampled_from(["SUCCESS", "SUCCESS", "FAILED", "PROCESSING"]),
    )
    def the_channel_sends_a_file(self, day, key, amount, status):
        lines(self.channel, day, {"txn_no": self._no(key), "amount": str(amount), "status": status, "fee": str(fee_of(amount))})

    @rule(
        day=st.sampled_from(DAYS),
        key=st.sampled_from(KEYS),
        amount=st.sampled_from(AMOUNTS),
        status=st.sampled_from(["SUCCESS", "SUCCESS", "FAILED", "UNKNOWN"]),
    )
    def the_payment_core_records(self, day, key, amount, status):
        """A record of ours, sent once and again later (the same again changes nothing; a terminal status
        may follow an unknown one; anything else is refused as a conflict, as the service decides)."""
        existing = PlatformTransaction.objects.filter(txn_no=self._no(key)).first()
        if existing is not None:
            day, amount = existing.business_date, existing.amount
        at = timezone.now()
        item = TransactionInput(
            ref="item 1",
            txn_no=self._no(key),
            channel_code=self.channel.code,
            business_type="COLLECTION",
            amount=amount,
            currency="CNY",
            status=status,
            created_at=at,
            business_date=day,
        )
        try:
            transactions_upsert(inputs=[item], source=TransactionConflict.Source.API, now=at)
        except TransactionBatchRefused:  # a status moving back, say: recorded, nothing written
            pass

    @rule(day=st.sampled_from(DAYS))
    def a_date_is_run(self, day):
        reconcile(self.channel, day)
        self.run_days.add(day)

    @rule(day=st.sampled_from(DAYS))
    def carry_overs_expire(self, day):
        discrepancies_open_expired(today=day, now=timezone.now())

    @precondition(lambda self: Discrepancy.objects.filter(channel=self.channel, state__in=["OPEN", "CARRIED_OVER"]).exists())
    @rule(
        pick=st.integers(min_value=0, max_value=50),
        choice=st.integers(min_value=0, max_value=10),
        decision=st.sampled_from(["approve", "approve", "reject", "leave"]),
    )
    def a_person_resolves(self, pick, choice, decision):
        items = list(Discrepancy.objects.filter(channel=self.channel, state__in=["OPEN", "CARRIED_OVER"]).order_by("id"))
        d = items[pick % len(items)]
        actions = ALLOWED_ACTIONS.get(d.type, ())
        if not actions:
            return
        action = actions[choice % len(actions)]
        params = {"days": 1} if action == "EXTEND_CARRY_OVER" else {}
        if action == "ADJUSTMENT":
            params = {"debit_account": "6711.02", "credit_account": "2241.01", "amount": str(abs(d.effect) or 1)}
        now = timezone.now()
        try:
            r = discrepancy_propose(
                discrepancy=d,
                action=action,
                reason="checked with the channel",
                params=params,
                acting_user=self.clerk,
                now=now,
                source="test",
            )
            if decision == "approve":
                resolution_approve(resolution=r, acting_user=self.checker, now=now, source="test")
            elif decision == "reject":
                resolution_reject(
                    resolution=r, comment="not like this, check again", acting_user=self.checker, now=now, source="test"
                )
        except WorkflowRefused:
            pass  # the rules said no (e.g. nothing to write off): a person's attempt, nothing changed

    @precondition(
        lambda self: (
            Discrepancy.objects.filter(channel=self.channel, type="PLATFORM_ONLY", state__in=["OPEN", "CARRIED_OVER"]).exists()
            and Discrepancy.objects.filter(channel=self.channel, type="BANK_ONLY", state__in=["OPEN", "CARRIED_OVER"]).exists()
        )
    )
    @rule(
        pick=st.integers(min_value=0, max_value=50),
        decision=st.sampled_from(["approve", "approve", "reject", "leave"]),
    )
    def a_clerk_pairs_items_manually(self, pick, decision):
        """手工勾兑 of one of ours with one of the channel's; left waiting, a later run may match either."""
        proposable = Discrepancy.objects.filter(channel=self.channel, state__in=["OPEN", "CARRIED_OVER"]).order_by("id")
        ours = list(proposable.filter(type="PLATFORM_ONLY"))
        theirs = list(proposable.filter(type="BANK_ONLY"))
        now = timezone.now()
        try:
            r = discrepancies_pair(
                discrepancies=[ours[pick % len(ours)], theirs[pick % len(theirs)]],
                reason="the same payment under two numbers",
                acting_user=self.clerk,
                now=now,
                source="test",
            )
            if decision == "approve":
                resolution_approve(resolution=r, acting_user=self.checker, now=now, source="test")
            elif decision == "reject":
                resolution_reject(resolution=r, comment="different payments", acting_user=self.checker, now=now, source="test")
        except WorkflowRefused:
            pass

    # --- what must always hold ---------------------------------------------------------------------

    @invariant()
    def no_item_is_live_twice_and_settled_items_stay_settled(self):
        if not hasattr(self, "channel"):
            return
        live = Discrepancy.objects.filter(channel=self.channel).exclude(state=DiscrepancyState.RESOLVED)
        txns = [t for t in live.values_list("platform_txn_id", flat=True) if t]
        line_ids = [n for n in live.filter(batch_no="").values_list("statement_line_id", flat=True) if n]
        assert len(txns) == len(set(txns)) and len(line_ids) == len(set(line_ids))
        assert not (set(txns) & self.settled_txns), "a settled transaction is live again"
        assert not (set(line_ids) & self.settled_lines), "a settled line is live again"
        resolved = Discrepancy.objects.filter(channel=self.channel, state=DiscrepancyState.RESOLVED)
        self.settled_txns |= {t for t in resolved.values_list("platform_txn_id", flat=True) if t} - set(txns)
        self.settled_lines |= {n for n in resolved.values_list("statement_line_id", flat=True) if n} - set(line_ids)

    @invariant()
    def our_transactions_are_never_created_twice(self):
        if not hasattr(self, "channel"):
            return
        ours = PlatformTransaction.objects.filter(channel=self.channel)
        sources = [s for s in ours.values_list("source_line_id", flat=True) if s]
        assert len(sources) == len(set(sources))
        keys = [(t.source_line.txn_no if t.source_line_id and t.txn_no.startswith("SUP") else t.txn_no) for t in ours]
        assert len(keys) == len(set(keys)), "two orders of ours for one channel transaction"

    @invariant()
    def the_books_balance(self):
        if hasattr(self, "channel"):
            books_hold(as_of=DAYS[-1])

    @invariant()
    def the_queue_and_dashboard_tally_adds_up_to_the_discrepancies(self):
        assert tally_differences() == []

    @precondition(lambda self: bool(self.run_days))
    @rule(order=st.permutations(DAYS))
    def every_date_run_again_in_any_order_changes_nothing(self, order):
        for day in DAYS:  # first every date after the last change, in order
            reconcile(self.channel, day)
        self.run_days.update(DAYS)
        before, vouchers = self._snapshot(), Voucher.objects.count()
        for day in order:
            again = reconcile(self.channel, day)
            assert set(again.counts["discrepancies"]) <= {"CONFIRMED"}, again.counts["discrepancies"]
        assert self._snapshot() == before
        assert Voucher.objects.count() == vouchers, "a re-run posted again"
        self._money_is_conserved()
        # Every date run after the last change: its vouchers hold exactly what our successful records of the
        # date come to (nothing posted twice, nothing missing).
        for day in DAYS:
            for business_type, target in day_target(self.channel, day).items():
                held = {k: v for k, v in scope_posted(day_scope(self.channel, day, business_type)).items() if v}
                assert held == {k: v for k, v in target.items() if v}, (day, business_type)

    def _money_is_conserved(self):
        bank = StatementLine.objects.filter(channel=self.channel, status="SUCCESS").aggregate(s=Sum("amount"))["s"] or 0
        ours = PlatformTransaction.objects.filter(channel=self.channel, status="SUCCESS").aggregate(s=Sum("amount"))["s"] or 0
        found = Discrepancy.objects.filter(channel=self.channel).exclude(type="FEE_MISMATCH")
        live = found.exclude(state=DiscrepancyState.RESOLVED).aggregate(s=Sum("effect"))["s"] or 0
        booked = found.filter(Q(closed_as__in=BOOKED)).aggregate(s=Sum("effect"))["s"] or 0
        assert bank - ours == live + booked, (bank, ours, live, booked)

    def _snapshot(self):
        return (
            sorted(
                (d.pk, d.type, d.state, d.platform_txn_id, d.statement_line_id, d.effect)
                for d in Discrepancy.objects.filter(channel=self.channel)
            ),
            PlatformTransaction.objects.filter(channel=self.channel).count(),
        )

    def _no(self, key: str) -> str:
        return f"{self.channel.code}-{key}"


@pytest.mark.django_db
def test_stage_one_holds_over_days_of_files_records_runs_and_decisions(make_channel, make_fee_model, clerk, checker):
    StageOneDays.fixtures = {"make_channel": make_channel, "make_fee_model": make_fee_model, "clerk": clerk, "checker": checker}
    run_state_machine_as_test(
        StageOneDays,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
