"""A Hypothesis state machine over the second half of the day: collections confirmed by stage 1, the bank
settling them (exactly, short, twice, late or never), batch payouts with their returns (the same day, the
next, or never), bank charges nobody expected, offline items in the
bank journal, fund runs (stage 2) and book-to-bank checks of any date in any order, people resolving what
they find. After every step:

- the books: every voucher balances (the database's deferred checks forced now), the trial balance
  balances in every currency, and each account's balance is the sum of its entries;
- nothing is posted twice: a movement of money is in the books at most once, at its own amount, on the
  bank account it moved on;
- no movement is live in two discrepancies at once (a book-to-bank check does not raise what stage 2
  already raised), and no expected settlement is live twice;
- running every fund date and every books check again, in any order, changes nothing: no voucher, no
  discrepancy, the same states.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.db.models import Count
from django.utils import timezone
from helpers import D, RolledBackMachine, books_hold, fee_of, lines, movements, reconcile, reconcile_funds, txn
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule, run_state_machine_as_test

from accounts.models import Entry, LedgerRole, Voucher
from accounts.services.books import BooksRefused, Line, ledger_for, voucher_approve, voucher_propose
from reconciliation.models import FUND_TYPES, BusinessType, Discrepancy, DiscrepancyState, FundMovement, ReconciliationRun
from reconciliation.selectors.discrepancies import tally_differences
from reconciliation.services.engine.clearing import clearing_compute
from reconciliation.services.engine.fund import signed
from reconciliation.services.engine.runs import run_execute, run_start
from reconciliation.services.postings import bank_deposit_account
from reconciliation.services.workflow.resolution import (
    ALLOWED_ACTIONS,
    WorkflowRefused,
    discrepancy_propose,
    resolution_approve,
    resolution_reject,
)

DAYS = [D + timedelta(days=n) for n in range(4)]
FUND_DAYS = [D + timedelta(days=n) for n in range(6)]  # settlements come a day or two after their date
AMOUNTS = [Decimal("100.00"), Decimal("250.00"), Decimal("1000.00")]
_channels = count(1)


def books_check(channel, day):
    run = run_start(channel=channel, business_date=day, trigger="COMMAND", now=timezone.now(), execute=False, stage="BOOKS")
    run = run_execute(run=run, now=timezone.now())
    assert run.status == ReconciliationRun.Status.SUCCEEDED, run.error
    return run


class StageTwoDays(RolledBackMachine):
    @initialize()
    def set_up(self):
        self.channel = self.fixtures["make_channel"](f"FM{next(_channels)}", carry_over_days=2, write_off_threshold=100)
        self.fixtures["make_fee_model"](self.channel, business_type=BusinessType.COLLECTION, rate=Decimal("0.006"))
        self.clerk, self.checker = self.fixtures["clerk"], self.fixtures["checker"]
        self.bank = bank_deposit_account(self.channel.settlement_account)
        self.serial = count(1)
        self.collected: set = set()
        self.reruns = 0

    # --- the world changes -----------------------------------------------------------------------

    @rule(
        day=st.sampled_from(DAYS),
        amounts=st.lists(st.sampled_from(AMOUNTS), min_size=1, max_size=3),
        listed=st.sampled_from([True, True, True, False]),
        settled=st.sampled_from(["exact", "exact", "short", "twice", "unnamed", "later"]),
        delay=st.sampled_from([1, 1, 2]),
    )
    def a_days_collections_are_made(self, day, amounts, listed, settled, delay):
        """Collections of ours on ``day``; the channel's bill lists them (or not yet); stage 1 runs the date;
        the bank settles the date (or later)."""
        for amount in amounts:
            no = f"{self.channel.code}-{next(self.serial)}"
            txn(self.channel, no, amount, fee=fee_of(amount), day=day)
            if listed:
                lines(self.channel, day, {"txn_no": no, "amount": str(amount), "fee": str(fee_of(amount))})
        reconcile(self.channel, day)
        self.collected.add(day)
        if settled != "later":
            self._settle(day, delay, settled)

    @precondition(lambda self: bool(self.collected))
    @rule(
        pick=st.integers(min_value=0, max_value=10),
        delay=st.sampled_from([1, 1, 2]),
        how=st.sampled_from(["exact", "exact", "short", "twice", "unnamed"]),
    )
    def the_bank_settles_a_date(self, pick, delay, how):
        """The settlement of a date's collections as clearing figures it now, as the bank pays it."""
        self._settle(sorted(self.collected)[pick % len(self.collected)], delay, how)

    def _settle(self, day, delay, how):
        net = clearing_compute(channel=self.channel, day=day).totals.net
        if not net:
            return
        short_by = Decimal("5.00") if abs(net) > 5 else Decimal("0.01")  # a small net (payouts ate it): a cent
        amount = abs(net) - short_by if how == "short" else abs(net)
        memo = "" if how == "unnamed" else f"SETTLEMENT {day:%Y%m%d}"
        direction = "CREDIT" if net > 0 else "DEBIT"  # payouts may outweigh the collections: we pay the channel
        rows = [{"direction": direction, "amount": str(amount), "memo": memo}] * (2 if how == "twice" else 1)
        movements(self.channel, day + timedelta(days=delay), *rows)

    @rule(
        day=st.sampled_from(DAYS),
        size=st.integers(min_value=2, max_value=3),
        failed=st.integers(min_value=0, max_value=2),
        returned=st.sampled_from(["next day", "same day", "never"]),
    )
    def a_batch_payout_is_made(self, day, size, failed, returned):
        """一笔扣多笔退: one debit for the whole batch, the failed items' money back later (or never)."""
        batch = f"{self.channel.code}-B{next(self.serial)}"
        items = [(f"{batch}-{n}", f"S{batch}-{n}", "FAILED" if n < failed else "SUCCESS") for n in range(size)]
        for no, serial, status in items:
            txn(
                self.channel,
                no,
                "100.00",
                status=status,
                business_type="BATCH_PAYOUT",
                batch_no=batch,
                channel_txn_no=serial,
                day=day,
            )
        reconcile(self.channel, day)
        movements(self.channel, day, {"direction": "DEBIT", "amount": f"{100 * size}.00", "batch_ref": batch})
        backs = [{"amount": "100.00", "batch_ref": batch, "business_ref": serial} for _no, serial, s in items if s == "FAILED"]
        if backs and returned != "never":
            movements(self.channel, day + timedelta(days=1 if returned == "next day" else 0), *backs)

    @rule(
        day=st.sampled_from(FUND_DAYS), amount=st.sampled_from(["12.00", "0.35"]), direction=st.sampled_from(["DEBIT", "CREDIT"])
    )
    def the_bank_moves_money_nobody_expected(self, day, amount, direction):
        movements(
            self.channel,
            day,
            {"direction": direction, "amount": amount, "memo": "ACCOUNT CHARGES" if direction == "DEBIT" else "INTEREST"},
        )

    @rule(day=st.sampled_from(FUND_DAYS), amount=st.sampled_from(["12.00", "30.00"]), approve=st.booleans())
    def a_clerk_enters_an_offline_item(self, day, amount, approve):
        """线下补录 on the reserve account: booked only once a checker approves it."""
        fee_expense = ledger_for(LedgerRole.FEE_EXPENSE, self.channel.currency)
        v = voucher_propose(
            business_date=day,
            memo="bank charge seen on the online banking",
            lines=[Line(fee_expense, debit=Decimal(amount)), Line(self.bank, credit=Decimal(amount))],
            acting_user=self.clerk,
            now=timezone.now(),
        )
        if approve:
            voucher_approve(voucher=v, comment="seen on the statement", acting_user=self.checker, now=timezone.now())

    @rule(day=st.sampled_from(FUND_DAYS))
    def a_fund_date_is_run(self, day):
        reconcile_funds(self.channel, day)

    @rule(day=st.sampled_from(FUND_DAYS))
    def the_books_are_checked(self, day):
        books_check(self.channel, day)

    @precondition(lambda self: self._workable().exists())
    @rule(
        pick=st.integers(min_value=0, max_value=50),
        choice=st.integers(min_value=0, max_value=10),
        decision=st.sampled_from(["approve", "approve", "reject", "leave"]),
    )
    def a_person_resolves(self, pick, choice, decision):
        items = list(self._workable().order_by("id"))
        d = items[pick % len(items)]
        actions = ALLOWED_ACTIONS.get(d.type, ())
        action = actions[choice % len(actions)]
        params = {"days": 1} if action == "EXTEND_CARRY_OVER" else {}
        if action == "ADJUSTMENT":  # the money is the bank's: book it between the bank and fee expense (补账)
            bank, fees = self.bank.code, ledger_for(LedgerRole.FEE_EXPENSE, self.channel.currency).code
            debit, credit = (bank, fees) if d.effect > 0 else (fees, bank)
            params = {"debit_account": debit, "credit_account": credit, "amount": str(abs(d.effect) or 1)}
        now = timezone.now()
        try:
            r = discrepancy_propose(
                discrepancy=d, action=action, reason="checked with the bank", params=params, acting_user=self.clerk,
                now=now, source="test",
            )  # fmt: skip
            if decision == "approve":
                resolution_approve(resolution=r, acting_user=self.checker, now=now, source="test")
            elif decision == "reject":
                resolution_reject(
                    resolution=r, comment="not like this, check again", acting_user=self.checker, now=now, source="test"
                )
        except (WorkflowRefused, BooksRefused):
            pass  # the rules said no: a person's attempt, nothing changed

    @precondition(lambda self: self.reruns < 2)  # a dozen runs each time: twice an example is enough
    @rule(fund_order=st.permutations(FUND_DAYS), books_order=st.permutations(FUND_DAYS))
    def every_date_run_again_in_any_order_changes_nothing(self, fund_order, books_order):
        self.reruns += 1
        for day in FUND_DAYS:  # first every date after the last change, in order
            reconcile_funds(self.channel, day)
        for day in FUND_DAYS:
            books_check(self.channel, day)
        before, vouchers = self._snapshot(), Voucher.objects.count()
        for day in fund_order:
            reconcile_funds(self.channel, day)
        for day in books_order:
            books_check(self.channel, day)
        assert Voucher.objects.count() == vouchers, "a re-run posted again"
        assert self._snapshot() == before

    # --- what must always hold ---------------------------------------------------------------------

    @invariant()
    def the_books_balance(self):
        if hasattr(self, "channel"):
            books_hold(as_of=FUND_DAYS[-1])

    @invariant()
    def the_queue_and_dashboard_tally_adds_up_to_the_discrepancies(self):
        assert tally_differences() == []

    @invariant()
    def every_movement_is_posted_at_most_once_at_its_own_amount(self):
        if not hasattr(self, "channel"):
            return
        moved = {m.pk: m for m in FundMovement.objects.filter(channel=self.channel)}
        posted = Entry.objects.filter(voucher__source_key__startswith="fund:", voucher__status=Voucher.Status.POSTED)
        for e in posted.filter(ledger_account__role=LedgerRole.BANK_DEPOSIT).select_related("voucher"):
            m = moved.get(int(e.voucher.source_key.removeprefix("fund:")))
            if m is not None:
                assert e.ledger_account == bank_deposit_account(m.bank_account)
                assert e.debit - e.credit == signed(m), (m.pk, e.debit, e.credit, signed(m))
        twice = posted.values("voucher__source_key").annotate(n=Count("voucher", distinct=True)).filter(n__gt=1)
        assert not twice.exists()

    @invariant()
    def nothing_is_live_twice(self):
        if not hasattr(self, "channel"):
            return
        live = Discrepancy.objects.filter(channel=self.channel, type__in=FUND_TYPES).exclude(state=DiscrepancyState.RESOLVED)
        moved = [m for m in live.values_list("fund_movement_id", flat=True) if m]
        assert len(moved) == len(set(moved)), "a movement is live in two discrepancies"
        keys = [k for k in live.values_list("match_key", flat=True) if k]
        assert len(keys) == len(set(keys))

    def _workable(self):
        return Discrepancy.objects.filter(channel=self.channel, type__in=FUND_TYPES, state__in=["OPEN", "CARRIED_OVER"])

    def _snapshot(self):
        return sorted(
            (d.pk, d.type, d.state, d.fund_movement_id, d.effect)
            for d in Discrepancy.objects.filter(channel=self.channel, type__in=FUND_TYPES)
        )


@pytest.mark.django_db
def test_stage_two_and_the_books_hold_over_days_of_settlements_charges_runs_and_decisions(
    make_channel, make_fee_model, clerk, checker
):
    StageTwoDays.fixtures = {"make_channel": make_channel, "make_fee_model": make_fee_model, "clerk": clerk, "checker": checker}
    run_state_machine_as_test(
        StageTwoDays,
        settings=settings(
            max_examples=15,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
