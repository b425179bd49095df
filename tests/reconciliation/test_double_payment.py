"""Double payment: a payout we hold as failed or unknown (a timeout), retried, and paid by the channel
both times is a DOUBLE_PAYMENT_RISK to recover (追款), never a 补单; two successful payouts of one
amount to one payee within the channel's window are a risk a clerk confirms or dismisses."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from helpers import D, lines, reconcile, txn

from reconciliation.models import Claim, Discrepancy, RunFinding, WorkflowEvent
from reconciliation.services.workflow.resolution import WorkflowRefused, discrepancy_propose, resolution_approve
from reconciliation.services.workflow.suggestions import suggest

PAYEE = {"counterparty_account": "6222020000001111", "counterparty_name": "王五"}
D2 = D + timedelta(days=1)


def propose(d, action, user, **params):
    return discrepancy_propose(
        discrepancy=d, action=action, reason="checked with the payee", params=params, acting_user=user,
        now=timezone.now(), source="test",
    )  # fmt: skip


def approve(r, user):
    return resolution_approve(resolution=r, acting_user=user, now=timezone.now(), source="test")


def payout(channel, txn_no, amount="1500.00", *, after=None, **fields):
    t = txn(channel, txn_no, amount, business_type="PAYOUT", **fields)
    if after is not None:
        t.created_at = after.created_at + timedelta(minutes=5)
        t.save(update_fields=["created_at"])
    return t


def paid(txn_no, amount="1500.00"):
    return {"txn_no": txn_no, "amount": amount, "line_type": "PAYOUT", "fee": "2.00"}  # the payout fee model


@pytest.mark.django_db
@pytest.mark.parametrize("first_status", ["UNKNOWN", "FAILED", "PROCESSING"])
def test_a_retry_of_the_same_order_paid_twice_is_a_double_payment(wx, first_status, clerk):
    first = payout(wx, "PO1", status=first_status, order_no="ORDER-9")  # no payee account: the order ties them
    retry = payout(wx, "PO1-R", after=first, order_no="ORDER-9")
    lines(wx, D, paid("PO1"), paid("PO1-R"))
    reconcile(wx)
    d = Discrepancy.objects.get()
    assert (d.type, d.platform_txn, d.related_txn, d.effect) == ("DOUBLE_PAYMENT_RISK", first, retry, Decimal("-1500"))
    hint = suggest(d)
    assert hint.action == "RECOVERY" and "PO1-R" in hint.why
    with pytest.raises(WorkflowRefused, match="does not apply"):
        propose(d, "SUPPLEMENT", clerk)


@pytest.mark.django_db
def test_a_retry_recorded_on_a_later_day_turns_the_status_mismatch_into_a_double_payment(wx, clerk):
    first = payout(wx, "PO1", status="UNKNOWN", **PAYEE)
    lines(wx, D, paid("PO1"))
    reconcile(wx)
    mismatch = Discrepancy.objects.get()
    assert mismatch.type == "STATUS_MISMATCH" and suggest(mismatch).action == "SUPPLEMENT"
    # The core retries next morning (a new order number, the same payee and amount) and the bank pays again.
    retry = payout(wx, "PO2", day=D2, after=first, **PAYEE)
    # Before any run sees it, a supplement of the first would hide the second payment: refused.
    with pytest.raises(WorkflowRefused, match="retried as PO2"):
        propose(mismatch, "SUPPLEMENT", clerk)
    lines(wx, D2, paid("PO2"))
    run = reconcile(wx, D2)
    mismatch.refresh_from_db()
    assert (mismatch.type, mismatch.related_txn, mismatch.state) == ("DOUBLE_PAYMENT_RISK", retry, "OPEN")
    assert RunFinding.objects.get(run=run, discrepancy=mismatch).change == "UPDATED"
    assert mismatch.workflow_events.filter(kind=WorkflowEvent.Kind.RECLASSIFIED).count() == 1
    # Run again in any order: nothing moves.
    reconcile(wx)
    reconcile(wx, D2)
    assert Discrepancy.objects.count() == 1
    assert mismatch.workflow_events.filter(kind=WorkflowEvent.Kind.RECLASSIFIED).count() == 1


@pytest.mark.django_db
def test_a_supplement_proposed_before_the_retry_is_refused_when_approved(wx, clerk, checker):
    first = payout(wx, "PO1", status="UNKNOWN", **PAYEE)
    lines(wx, D, paid("PO1"))
    reconcile(wx)
    r = propose(Discrepancy.objects.get(), "SUPPLEMENT", clerk)
    payout(wx, "PO2", after=first, **PAYEE)
    with pytest.raises(WorkflowRefused, match="double payment"):
        approve(r, checker)
    first.refresh_from_db()
    assert first.status == "UNKNOWN"


@pytest.mark.django_db
def test_two_successful_payouts_to_one_payee_are_a_risk_a_clerk_may_dismiss(wx, clerk, checker):
    first = payout(wx, "PO1", **PAYEE)
    second = payout(wx, "PO2", after=first, **PAYEE)
    lines(wx, D, paid("PO1"), paid("PO2"))
    run = reconcile(wx)
    d = Discrepancy.objects.get()
    assert (d.type, d.platform_txn, d.related_txn, d.effect, d.state) == ("DOUBLE_PAYMENT_RISK", second, first, 0, "OPEN")
    assert run.counts["outcomes"]["MATCHED"]["count"] == 1 and run.counts["outcomes"]["DOUBLE_PAYMENT_RISK"]["count"] == 1
    assert "dismiss" in suggest(d).why
    approve(propose(d, "DISMISS", clerk), checker)
    d.refresh_from_db()
    assert (d.state, d.closed_as) == ("RESOLVED", "DISMISSED")
    again = reconcile(wx)
    assert Discrepancy.objects.count() == 1 and not again.findings.exists()


@pytest.mark.django_db
def test_a_confirmed_twin_is_recovered_from_the_payee(wx, clerk, checker):
    first = payout(wx, "PO1", **PAYEE)
    payout(wx, "PO2", after=first, **PAYEE)
    lines(wx, D, paid("PO1"), paid("PO2"))
    reconcile(wx)
    d = Discrepancy.objects.get()
    approve(propose(d, "RECOVERY", clerk), checker)
    claim = Claim.objects.get()
    assert (claim.kind, claim.amount, claim.counterparty) == ("PAYEE", Decimal("1500.00"), "王五")


@pytest.mark.django_db
def test_a_double_payment_that_money_confirms_cannot_be_dismissed(wx, clerk):
    first = payout(wx, "PO1", status="FAILED", **PAYEE)
    payout(wx, "PO2", after=first, **PAYEE)
    lines(wx, D, paid("PO1"), paid("PO2"))
    reconcile(wx)
    with pytest.raises(WorkflowRefused, match="dismissed"):
        propose(Discrepancy.objects.get(), "DISMISS", clerk)


@pytest.mark.django_db
def test_payouts_outside_the_window_or_to_other_payees_are_not_twins(wx):
    wx.double_payment_window_hours = 2
    wx.save()
    first = payout(wx, "PO1", **PAYEE)
    late = payout(wx, "PO2", **PAYEE)
    late.created_at = first.created_at + timedelta(hours=3)
    late.save(update_fields=["created_at"])
    payout(wx, "PO3", after=first, counterparty_account="6222020000002222")
    payout(wx, "PO4", "1499.00", after=first, **PAYEE)
    lines(wx, D, *(paid(no) for no in ("PO1", "PO2", "PO3")), paid("PO4", "1499.00"))
    assert reconcile(wx).counts["outcomes"] == {"MATCHED": {"count": 4, "amount": "5999.0000"}}
    assert not Discrepancy.objects.exists()


@pytest.mark.django_db
def test_the_same_order_paid_twice_is_a_twin_whatever_the_window(wx):
    wx.double_payment_window_hours = 0
    wx.save()
    first = payout(wx, "PO1", order_no="SALARY-11")
    second = payout(wx, "PO2", order_no="SALARY-11")
    second.created_at = first.created_at + timedelta(days=1)
    second.save(update_fields=["created_at"])
    lines(wx, D, paid("PO1"), paid("PO2"))
    reconcile(wx)
    assert Discrepancy.objects.get().related_txn == first


@pytest.mark.django_db
def test_a_twin_closes_when_the_earlier_payout_is_corrected_to_failed(wx):
    first = payout(wx, "PO1", **PAYEE)
    second = payout(wx, "PO2", after=first, day=D2, **PAYEE)
    lines(wx, D, paid("PO1"))
    lines(wx, D2, paid("PO2"))
    reconcile(wx)
    reconcile(wx, D2)
    d = Discrepancy.objects.get()
    assert (d.platform_txn, d.related_txn, d.business_date) == (second, first, D2)
    first.status = "FAILED"  # the core's correction (the bank's file still lists it: a status mismatch of D)
    first.save(update_fields=["status"])
    reconcile(wx)
    d.refresh_from_db()
    assert (d.state, d.closed_as) == ("RESOLVED", "REMATCHED")
    # Held failed but paid by the bank, with PO2 paying the payee again: the money view of the same risk.
    now = Discrepancy.objects.exclude(pk=d.pk).get()
    assert (now.type, now.platform_txn, now.related_txn) == ("DOUBLE_PAYMENT_RISK", first, second)
