"""Batch payouts item by item (代发, 一笔扣多笔退): one debit for the batch, returns of failed items, maybe
on a later day, maybe naming the item; or a bank that books each item on its own line."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from helpers import D, lines, reconcile, txn

from reconciliation.models import Discrepancy, ItemBookedAlone, PlatformTransaction
from reconciliation.services.workflow.resolution import discrepancy_propose, resolution_approve
from reconciliation.services.workflow.suggestions import suggest

D2 = D + timedelta(days=1)


def item(channel, txn_no, amount, status="SUCCESS", batch="B1", **fields):
    return txn(channel, txn_no, amount, status=status, business_type="BATCH_PAYOUT", batch_no=batch, **fields)


def debit(amount, batch="B1", fee="1.00"):
    return {"batch_ref": batch, "amount": amount, "line_type": "BATCH_PAYOUT", "fee": fee, "txn_no": ""}


def returned(amount, batch="B1", names=""):
    return {"batch_ref": batch, "amount": amount, "line_type": "REFUND", "fee": "0", "txn_no": "", "original_txn_no": names}


def live():
    return {d.platform_txn.txn_no if d.platform_txn else d.batch_no: d for d in Discrepancy.objects.exclude(state="RESOLVED")}


def outcomes(run):
    return {outcome: v["count"] for outcome, v in run.counts["outcomes"].items()}


@pytest.mark.django_db
def test_swapped_returns_are_caught_item_by_item_even_when_the_totals_agree(wx):
    item(wx, "X", "100.00", status="FAILED")
    item(wx, "Y", "100.00")
    item(wx, "Z", "50.00")
    lines(wx, D, debit("250.00"), returned("100.00", names="Y"))  # the bank returned Y, not X
    run = reconcile(wx)
    found = live()
    assert set(found) == {"X", "Y"}
    assert (found["Y"].type, found["Y"].bank_status, found["Y"].effect, found["Y"].state) == (
        "STATUS_MISMATCH", "FAILED", Decimal("100.00"), "OPEN",
    )  # fmt: skip
    # X, failed here but not returned: paid, unless its return is still to come.
    assert (found["X"].type, found["X"].bank_status, found["X"].effect, found["X"].state) == (
        "STATUS_MISMATCH", "SUCCESS", Decimal("-100.00"), "CARRIED_OVER",
    )  # fmt: skip
    assert outcomes(run) == {"MATCHED": 1, "STATUS_MISMATCH": 2}
    assert Decimal(run.counts["overage"]) + Decimal(run.counts["shortage"]) == 0  # the totals agree


@pytest.mark.django_db
def test_a_return_that_names_no_item_goes_to_an_item_of_its_amount_our_failed_one_first(wx):
    item(wx, "X", "100.00")
    item(wx, "Y", "100.00", status="FAILED")
    item(wx, "Z", "60.00")
    lines(wx, D, debit("260.00"))
    lines(wx, D2, returned("100.00"))
    reconcile(wx)
    assert set(live()) == {"Y"}  # waits for its return
    run = reconcile(wx, D2)
    assert live() == {}
    assert outcomes(run)["AGREED_FAILED"] == 1
    assert Discrepancy.objects.get().closed_as == "CROSS_DAY_MATCH"


@pytest.mark.django_db
def test_an_unknown_item_the_bank_paid_is_supplemented_not_waited_for(wx, clerk, checker):
    item(wx, "X", "100.00", status="UNKNOWN")
    item(wx, "Y", "60.00")
    lines(wx, D, debit("160.00"))
    reconcile(wx)
    d = live()["X"]
    assert (d.type, d.state, d.bank_status, d.effect) == ("STATUS_MISMATCH", "OPEN", "SUCCESS", Decimal("-100.00"))
    assert suggest(d).action == "SUPPLEMENT"
    r = discrepancy_propose(
        discrepancy=d, action="SUPPLEMENT", reason="bank confirms it paid", params={}, acting_user=clerk,
        now=timezone.now(), source="test",
    )  # fmt: skip
    resolution_approve(resolution=r, acting_user=checker, now=timezone.now(), source="test")
    assert PlatformTransaction.objects.get(txn_no="X").status == "SUCCESS"
    assert not reconcile(wx).findings.exists() and live() == {}


@pytest.mark.django_db
def test_a_bank_that_books_items_one_by_one_without_the_batch_pairs_them_by_number(wx):
    item(wx, "X", "100.00")
    item(wx, "Y", "60.00")
    item(wx, "W", "40.00", status="FAILED")
    payout = {"line_type": "PAYOUT", "fee": "1.00"}  # the batch fee model, per item
    lines(wx, D, {"txn_no": "X", "amount": "100.00", **payout})
    run = reconcile(wx)
    # Y not booked yet: its batch (now Y and W) waits for it; X is paired alone.
    assert outcomes(run) == {"MATCHED": 1, "PLATFORM_ONLY": 2}
    assert live()["B1"].state == "CARRIED_OVER"
    lines(wx, D2, {"txn_no": "Y", "amount": "60.00", **payout})
    reconcile(wx, D2)
    assert live() == {}
    assert set(ItemBookedAlone.objects.values_list("txn__txn_no", flat=True)) == {"X", "Y"}
    # Run again in any order: nothing moves.
    for day in (D, D2, D):
        assert not reconcile(wx, day).findings.exclude(change="CONFIRMED").exists()
    assert live() == {}


@pytest.mark.django_db
def test_a_bank_that_debits_only_what_it_paid_is_judged_by_the_batch_total(wx):
    item(wx, "X", "100.00", status="FAILED")
    item(wx, "Y", "60.00")
    lines(wx, D, debit("60.00"))
    run = reconcile(wx)
    assert live() == {} and outcomes(run) == {"MATCHED": 2}


@pytest.mark.django_db
def test_what_the_items_do_not_explain_is_the_batchs_difference(wx):
    item(wx, "X", "100.00")
    item(wx, "Y", "60.00")
    lines(wx, D, debit("170.00"))
    reconcile(wx)
    d = live()["B1"]
    assert (d.type, d.effect, d.platform_txn) == ("AMOUNT_MISMATCH", Decimal("-10.00"), None)
    assert PlatformTransaction.objects.filter(batch_no="B1").count() == 2 and len(live()) == 1


@pytest.mark.django_db
def test_a_batch_balanced_by_a_late_return_closes_and_reruns_keep_it_closed(wx):
    item(wx, "X", "100.00", status="FAILED")
    item(wx, "Y", "60.00")
    lines(wx, D, debit("160.00"))
    reconcile(wx)
    waiting = live()["X"]
    lines(wx, D2, returned("100.00", names="X"))
    reconcile(wx, D2)
    waiting.refresh_from_db()
    assert (waiting.state, waiting.closed_as) == ("RESOLVED", "CROSS_DAY_MATCH")
    reconcile(wx)
    reconcile(wx, D2)
    assert live() == {} and Discrepancy.objects.count() == 1
