"""补单 is safe: it never records an order we already hold, and the payment core's own late record of a
supplemented order completes it instead of being refused, without taking the rest of its batch down."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from helpers import D, lines, local_dt, reconcile, txn

from accounts.models import Customer
from reconciliation.models import Discrepancy, PlatformTransaction, TransactionConflict
from reconciliation.services.intake.transactions import TransactionInput, transactions_upsert
from reconciliation.services.workflow.resolution import WorkflowRefused, discrepancy_propose, resolution_approve


def propose(d, action, user, **params):
    return discrepancy_propose(
        discrepancy=d, action=action, reason="checked with the channel", params=params, acting_user=user,
        now=timezone.now(), source="test",
    )  # fmt: skip


def record(txn_no, amount="66.00", day=D, **fields) -> TransactionInput:
    return TransactionInput(
        ref="item 1", txn_no=txn_no, channel_code="WX", business_type="COLLECTION", amount=Decimal(amount),
        currency="CNY", status="SUCCESS", created_at=local_dt(2026, 11, 24, 9, 30), business_date=day, **fields,
    )  # fmt: skip


@pytest.fixture
def supplemented(wx, clerk, checker):
    lines(wx, D, {"txn_no": "NEW1", "amount": "66.00", "channel_txn_no": "4200000066"})
    reconcile(wx)
    d = Discrepancy.objects.get(type="BANK_ONLY")
    resolution_approve(resolution=propose(d, "SUPPLEMENT", clerk), acting_user=checker, now=timezone.now(), source="test")
    order = PlatformTransaction.objects.get(txn_no="NEW1")
    assert (order.origin, order.merchant, order.confirmed_at) == ("SUPPLEMENT", None, None)
    return order


@pytest.mark.django_db
def test_a_supplement_never_records_an_order_we_already_hold(wx, clerk, checker):
    held = txn(wx, "SEEN", "5.00")
    lines(wx, D, {"txn_no": "X", "amount": "1.00"})
    txn(wx, "X", "1.00")
    reconcile(wx)
    ours = Discrepancy.objects.get(match_key="SEEN")
    resolution_approve(resolution=propose(ours, "WRITE_OFF", clerk), acting_user=checker, now=timezone.now(), source="test")
    later = D + timedelta(days=5)  # long after its window: the channel's line of it is an item of its own
    lines(wx, later, {"txn_no": "SEEN", "amount": "5.00"})
    reconcile(wx, later)
    bank_only = Discrepancy.objects.get(type="BANK_ONLY", match_key="SEEN")
    with pytest.raises(WorkflowRefused, match=f"already hold order {held.txn_no}"):
        propose(bank_only, "SUPPLEMENT", clerk)
    assert PlatformTransaction.objects.filter(channel=wx).count() == 2


@pytest.mark.django_db
def test_the_payment_cores_late_record_completes_a_supplemented_order(supplemented, make_customer, make_merchant):
    merchant = make_merchant(make_customer(Customer.Kind.ENTERPRISE))
    result = transactions_upsert(
        inputs=[record("NEW1", merchant_no=merchant.merchant_no, fee=Decimal("0.40"), order_no="ORD-77")],
        source="API", now=timezone.now(),
    )  # fmt: skip
    assert result.as_dict() == {"created": 0, "updated": 1, "unchanged": 0, "held": 0}
    order = PlatformTransaction.objects.get(pk=supplemented.pk)
    assert (order.merchant, order.order_no, order.created_at) == (merchant, "ORD-77", local_dt(2026, 11, 24, 9, 30))
    assert order.confirmed_at is not None and order.channel_txn_no == "4200000066"
    assert not TransactionConflict.objects.exists()
    # From then on the ordinary rules hold: another merchant later is a conflict.
    other = make_merchant(make_customer(Customer.Kind.ENTERPRISE))
    with pytest.raises(Exception, match="refused"):
        transactions_upsert(inputs=[record("NEW1", merchant_no=other.merchant_no)], source="API", now=timezone.now())


@pytest.mark.django_db
def test_a_late_record_that_disagrees_is_held_without_taking_its_batch_down(supplemented):
    result = transactions_upsert(
        inputs=[record("NEW1", amount="67.00"), record("UNRELATED", amount="5.00")], source="API", now=timezone.now()
    )
    assert result.as_dict() == {"created": 1, "updated": 0, "unchanged": 0, "held": 1}
    assert PlatformTransaction.objects.filter(txn_no="UNRELATED").exists()
    conflict = TransactionConflict.objects.get()
    assert (conflict.txn_no, conflict.field, conflict.current_value, conflict.incoming_value) == (
        "NEW1", "amount", "66.0000", "67.00",
    )  # fmt: skip
    assert PlatformTransaction.objects.get(pk=supplemented.pk).confirmed_at is None  # still waiting for a good record
