"""The resolution workflow's rules, enforced by the service (screens and API call it)."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone, translation
from helpers import D, lines, reconcile, stored_discrepancy, txn

from reconciliation.models import (
    Adjustment,
    Approval,
    Claim,
    Discrepancy,
    PlatformTransaction,
    RefundOrder,
    Resolution,
    WorkflowEvent,
)
from reconciliation.services.workflow.resolution import (
    AlreadyDecided,
    WorkflowForbidden,
    WorkflowRefused,
    claim_recovery_decide,
    claim_recovery_report,
    discrepancies_assign,
    discrepancy_propose,
    refund_order_report,
    resolution_approve,
    resolution_reject,
)
from reconciliation.services.workflow.suggestions import suggest

NOW = timezone.now


def propose(d, action, user, reason="checked with the channel", **params):
    return discrepancy_propose(
        discrepancy=d, action=action, reason=reason, params=params, acting_user=user, now=NOW(), source="127.0.0.1"
    )


def approve(r, user, comment=""):
    return resolution_approve(resolution=r, comment=comment, acting_user=user, now=NOW(), source="127.0.0.1")


@pytest.fixture
def unknown_paid(wx):
    """Our collection timed out (UNKNOWN); the channel's file says it succeeded."""
    txn(wx, "U1", "88.00", status="UNKNOWN")
    lines(wx, D, {"txn_no": "U1", "amount": "88.00", "channel_txn_no": "4200000088"})
    reconcile(wx)
    return Discrepancy.objects.get(type="STATUS_MISMATCH")


@pytest.mark.django_db
def test_supplement_moves_our_record_to_success_linked_to_the_line(unknown_paid, clerk, checker):
    assert unknown_paid.age_days == (timezone.localdate() - unknown_paid.business_date).days
    hint = suggest(unknown_paid)
    assert hint.action == "SUPPLEMENT" and "unknown" in hint.why.lower()
    r = propose(unknown_paid, "SUPPLEMENT", clerk)
    unknown_paid.refresh_from_db()
    assert unknown_paid.state == "PROPOSED" and unknown_paid.workflow_started_at is not None
    approve(r, checker, "matches the channel's file")
    unknown_paid.refresh_from_db()
    t = PlatformTransaction.objects.get(txn_no="U1")
    assert (t.status, t.channel_txn_no, t.source_line) == ("SUCCESS", "4200000088", unknown_paid.statement_line)
    assert (unknown_paid.state, unknown_paid.closed_as) == ("RESOLVED", "SUPPLEMENTED")
    assert [e.kind for e in unknown_paid.workflow_events.order_by("id")] == ["FOUND", "PROPOSED", "APPROVED", "EXECUTED"]
    executed = unknown_paid.workflow_events.get(kind="EXECUTED")
    assert executed.before["state"] == "PROPOSED" and executed.after["after"]["status"] == "SUCCESS"
    assert executed.actor == checker and executed.source == "127.0.0.1"
    assert suggest(unknown_paid) is None and unknown_paid.age_days is None  # nothing left to do once resolved
    assert [e.state_change for e in unknown_paid.workflow_events.order_by("id")] == [
        ("—", "Open"),
        ("Open", "Proposed"),
        None,
        ("Proposed", "Resolved"),
    ]


@pytest.mark.django_db
def test_supplement_creates_the_missing_order_for_a_bank_only_line(wx, clerk, checker):
    lines(wx, D, {"txn_no": "NEW1", "amount": "66.00", "channel_txn_no": "4200000066"})
    reconcile(wx)
    d = Discrepancy.objects.get(type="BANK_ONLY")
    approve(propose(d, "SUPPLEMENT", clerk), checker)
    created = PlatformTransaction.objects.get(txn_no="NEW1")
    assert (created.status, created.amount, created.source_line.channel_txn_no) == ("SUCCESS", Decimal("66.00"), "4200000066")
    d.refresh_from_db()
    assert d.platform_txn == created and d.state == "RESOLVED"


@pytest.mark.django_db
def test_nobody_approves_their_own_proposal_even_holding_both_roles(unknown_paid, clerk, checker, admin_staff):
    clerk.groups.add(*checker.groups.all())
    both = type(clerk).objects.get(pk=clerk.pk)
    r = propose(unknown_paid, "SUPPLEMENT", both)
    with pytest.raises(WorkflowRefused, match="another person"):
        approve(r, both)
    with pytest.raises(WorkflowForbidden):  # an administrator neither proposes nor approves
        approve(r, admin_staff)
    r.refresh_from_db()
    assert r.status == "PROPOSED" and not Approval.objects.exists()


@pytest.mark.django_db
def test_a_clerk_cannot_approve_and_an_auditor_cannot_propose(unknown_paid, clerk, make_staff, auditor):
    other_clerk = make_staff("clerk")
    r = propose(unknown_paid, "SUPPLEMENT", clerk)
    with pytest.raises(WorkflowRefused, match="Only a checker"):
        approve(r, other_clerk)
    with pytest.raises(WorkflowRefused, match="not allowed to propose"):
        propose(stored_discrepancy(unknown_paid.channel, "1.00", type="BANK_ONLY"), "WRITE_OFF", auditor)


@pytest.mark.django_db
def test_above_the_threshold_a_second_approval_by_an_administrator(unknown_paid, clerk, checker, admin_staff, make_staff):
    channel = unknown_paid.channel
    channel.approval_threshold = Decimal("50.00")
    channel.save()
    r = propose(unknown_paid, "SUPPLEMENT", clerk)
    assert r.needs_second_approval  # 88.00 > 50.00
    approve(r, checker)
    r.refresh_from_db()
    assert r.status == "FIRST_APPROVED"
    assert PlatformTransaction.objects.get(txn_no="U1").status == "UNKNOWN"  # nothing executed yet
    with pytest.raises(WorkflowRefused, match="second approval by an administrator"):
        approve(r, make_staff("checker"))
    approve(r, admin_staff)
    r.refresh_from_db()
    assert r.status == "EXECUTED"
    assert list(r.approvals.order_by("id").values_list("level", flat=True)) == ["CHECKER", "SECOND"]
    assert PlatformTransaction.objects.get(txn_no="U1").status == "SUCCESS"


@pytest.mark.django_db
def test_the_threshold_is_read_again_at_approval_and_an_amount_equal_to_it_needs_one_approval(
    unknown_paid, clerk, checker, admin_staff
):
    channel = unknown_paid.channel
    channel.approval_threshold = Decimal("88.00")  # the item's amount: not above it
    channel.save()
    r = propose(unknown_paid, "SUPPLEMENT", clerk)
    assert not r.needs_second_approval
    channel.approval_threshold = Decimal("50.00")  # lowered while the proposal waits
    channel.save()
    approve(r, checker)
    r.refresh_from_db()
    assert (r.status, r.needs_second_approval) == ("FIRST_APPROVED", True)
    approve(r, admin_staff)
    assert Resolution.objects.get(pk=r.pk).status == "EXECUTED"


@pytest.mark.django_db
def test_an_adjustment_beyond_its_discrepancys_effect_needs_a_second_approval(wx, clerk, checker, admin_staff):
    d = stored_discrepancy(wx, "-12.00", type="PLATFORM_ONLY")
    within = {"debit_account": "6711.02", "credit_account": "2241.01"}
    r = propose(d, "ADJUSTMENT", clerk, amount="12.00", **within)
    assert not r.needs_second_approval
    resolution_reject(resolution=r, comment="book it with the fee too", acting_user=checker, now=NOW(), source="x")
    r = propose(d, "ADJUSTMENT", clerk, amount="15.00", **within)
    assert r.needs_second_approval  # more than the item's effect: an administrator allows it, or nobody
    approve(r, checker)
    assert Resolution.objects.get(pk=r.pk).status == "FIRST_APPROVED"
    approve(r, admin_staff)
    assert Resolution.objects.get(pk=r.pk).status == "EXECUTED"


@pytest.mark.django_db
def test_one_person_cannot_give_both_approvals(unknown_paid, clerk, checker, admin_staff):
    unknown_paid.channel.approval_threshold = Decimal("10.00")
    unknown_paid.channel.save()
    r = propose(unknown_paid, "SUPPLEMENT", clerk)
    with pytest.raises(WorkflowForbidden):  # the first approval is a checker's
        approve(r, admin_staff)
    checker.groups.add(*admin_staff.groups.all())
    both = type(checker).objects.get(pk=checker.pk)
    approve(r, both)
    with pytest.raises(WorkflowRefused, match="another administrator"):
        approve(r, both)
    approve(r, admin_staff)
    assert Resolution.objects.get(pk=r.pk).status == "EXECUTED"


@pytest.mark.django_db
def test_rejected_goes_back_to_open_and_can_be_proposed_again(unknown_paid, clerk, checker):
    r = propose(unknown_paid, "ACCEPT_BANK", clerk)
    with pytest.raises(WorkflowRefused, match="why"):
        resolution_reject(resolution=r, comment="no", acting_user=checker, now=NOW(), source="x")
    resolution_reject(
        resolution=r, comment="the channel confirmed success: supplement instead", acting_user=checker, now=NOW(), source="x"
    )
    unknown_paid.refresh_from_db()
    assert unknown_paid.state == "OPEN"
    assert Resolution.objects.get(pk=r.pk).status == "REJECTED"
    second = propose(unknown_paid, "SUPPLEMENT", clerk)
    assert second.status == "PROPOSED"
    with pytest.raises(AlreadyDecided, match="Already rejected by"):
        approve(r, checker)


@pytest.mark.django_db
def test_double_submit_executes_once_with_a_clear_message(unknown_paid, clerk, checker, make_staff):
    r = propose(unknown_paid, "SUPPLEMENT", clerk)
    approve(r, checker)
    with pytest.raises(AlreadyDecided, match=f"Already approved by {checker.username}"):
        approve(r, make_staff("checker"))
    with pytest.raises(AlreadyDecided):
        propose(unknown_paid, "SUPPLEMENT", clerk)
    assert WorkflowEvent.objects.filter(kind="EXECUTED").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_checkers_at_once_execute_once(unknown_paid, clerk, make_staff):
    r = propose(unknown_paid, "SUPPLEMENT", clerk)
    checkers = [make_staff("checker"), make_staff("checker")]
    barrier, outcomes = threading.Barrier(2), []

    def decide(user):
        barrier.wait()
        try:
            with translation.override("en"):  # the active language is per thread
                approve(r, user)
            outcomes.append("executed")
        except AlreadyDecided as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(u,)) for u in checkers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("executed") == 1
    assert "nothing was done twice" in next(o for o in outcomes if o != "executed")
    assert WorkflowEvent.objects.filter(kind="EXECUTED").count() == 1
    assert Approval.objects.count() == 1


@pytest.mark.django_db
def test_refund_order_is_resolved_when_the_payment_core_reports_it(wx, clerk, checker, make_staff):
    lines(wx, D, {"txn_no": "STRAY", "amount": "30.00"})
    reconcile(wx)
    d = Discrepancy.objects.get(type="BANK_ONLY")
    with pytest.raises(WorkflowRefused, match="cannot exceed"):
        propose(d, "REFUND", clerk, amount="31.00")
    r = propose(d, "REFUND", clerk, amount="30.00")
    approve(r, checker)
    d.refresh_from_db()
    order = RefundOrder.objects.get()
    assert (d.state, order.status, order.amount) == ("APPROVED", "PENDING", Decimal("30.00"))
    core = make_staff("payment_core")
    refund_order_report(order=order, succeeded=True, channel_txn_no="503000001", acting_user=core, now=NOW(), source="API")
    refund_order_report(order=order, succeeded=True, acting_user=core, now=NOW(), source="API")  # a retried report
    d.refresh_from_db()
    order.refresh_from_db()
    assert (d.state, d.closed_as, order.status) == ("RESOLVED", "REFUNDED", "SUCCEEDED")
    assert order.refund_txn.business_type == "REFUND" and order.refund_txn.status == "SUCCESS"
    with pytest.raises(AlreadyDecided):
        refund_order_report(order=order, succeeded=False, acting_user=core, now=NOW(), source="API")


@pytest.mark.django_db
def test_adjustment_is_posted_between_two_accounts_of_the_chart(unknown_paid, clerk, checker):
    with pytest.raises(WorkflowRefused, match="two different accounts"):
        propose(unknown_paid, "ADJUSTMENT", clerk, debit_account="1002", credit_account="1002", amount="88.00")
    clearing = f"1122.{unknown_paid.channel.code}"
    r = propose(
        unknown_paid,
        "ADJUSTMENT",
        clerk,
        debit_account=clearing,
        credit_account="2241.01",
        amount="88.00",
        memo="reserve received, order missing",
    )
    approve(r, checker)
    adjustment = Adjustment.objects.get()
    assert (adjustment.debit_account, adjustment.credit_account, adjustment.amount, adjustment.status) == (
        clearing,
        "2241.01",
        Decimal("88.00"),
        "POSTED",
    )
    entries = {(e.ledger_account.code, e.debit, e.credit) for e in adjustment.voucher.entries.select_related("ledger_account")}
    assert entries == {(clearing, Decimal("88.00"), 0), ("2241.01", 0, Decimal("88.00"))}
    r.refresh_from_db()
    assert r.outcome["voucher"] == adjustment.voucher.number
    assert Discrepancy.objects.get(pk=unknown_paid.pk).closed_as == "ADJUSTED"


@pytest.mark.django_db
def test_accept_the_channels_amount(wx, clerk, checker):
    txn(wx, "AMT", "88.00")
    lines(wx, D, {"txn_no": "AMT", "amount": "80.00"})
    reconcile(wx)
    d = Discrepancy.objects.get(type="AMOUNT_MISMATCH")
    assert "differ by 8.00 CNY" in suggest(d).why
    approve(propose(d, "ACCEPT_BANK", clerk), checker)
    assert PlatformTransaction.objects.get(txn_no="AMT").amount == Decimal("80.00")
    event = WorkflowEvent.objects.get(kind="EXECUTED")
    assert (event.after["before"]["amount"], event.after["after"]["amount"]) == ("88.0000", "80.0000")


@pytest.mark.django_db
def test_claim_is_tracked_until_recovered(wx, clerk, checker):
    txn(wx, "FEE", "100.00")
    lines(wx, D, {"txn_no": "FEE", "amount": "100.00", "fee": "0.70"})
    reconcile(wx)
    d = Discrepancy.objects.get(type="FEE_MISMATCH")
    approve(propose(d, "CLAIM", clerk), checker)
    claim = Claim.objects.get()
    assert (claim.kind, claim.amount, claim.counterparty) == ("BANK", Decimal("0.10"), wx.bank.name)
    assert Discrepancy.objects.get(pk=d.pk).state == "APPROVED"
    with pytest.raises(WorkflowRefused, match="reference"):
        claim_recovery_report(claim=claim, reference=" ", acting_user=clerk, now=NOW(), source="x")
    claim_recovery_report(claim=claim, reference="ICBC-RET-001", acting_user=clerk, now=NOW(), source="x")
    d.refresh_from_db()
    assert d.state == "APPROVED"  # reported, not yet recovered: a second person confirms money received
    clerk.groups.add(*checker.groups.all())  # even holding both roles, the reporter cannot confirm
    both = type(clerk).objects.get(pk=clerk.pk)
    with pytest.raises(WorkflowRefused, match="cannot confirm"):
        claim_recovery_decide(claim=claim, confirm=True, acting_user=both, now=NOW(), source="x")
    with pytest.raises(WorkflowForbidden):
        claim_recovery_decide(claim=claim, confirm=True, acting_user=clerk, now=NOW(), source="x")
    with pytest.raises(WorkflowRefused, match="Say why"):
        claim_recovery_decide(claim=claim, confirm=False, comment="no", acting_user=checker, now=NOW(), source="x")
    claim_recovery_decide(
        claim=claim, confirm=False, comment="no such credit on the statement", acting_user=checker, now=NOW(), source="x"
    )
    claim.refresh_from_db()
    assert (claim.status, claim.reference) == ("OPEN", "")
    claim_recovery_report(claim=claim, reference="ICBC-RET-002", acting_user=clerk, now=NOW(), source="x")
    claim_recovery_decide(claim=claim, confirm=True, acting_user=checker, now=NOW(), source="x")
    d.refresh_from_db()
    claim.refresh_from_db()
    assert (d.state, d.closed_as) == ("RESOLVED", "CLAIM_RECOVERED")
    assert (claim.status, claim.reference, claim.reported_by, claim.confirmed_by) == ("RECOVERED", "ICBC-RET-002", clerk, checker)
    kinds = list(d.workflow_events.filter(kind__startswith="RECOVERY").values_list("kind", flat=True).order_by("id"))
    assert kinds == ["RECOVERY_REPORTED", "RECOVERY_REJECTED", "RECOVERY_REPORTED"]
    with pytest.raises(AlreadyDecided):
        claim_recovery_decide(claim=claim, confirm=True, acting_user=checker, now=NOW(), source="x")


@pytest.mark.django_db
def test_recovery_from_the_payee_of_a_double_payment(wx, clerk, checker):
    payee = {"counterparty_account": "6222020000001111", "counterparty_name": "王五"}
    txn(wx, "PO1", "1500.00", status="FAILED", business_type="PAYOUT", **payee)
    retry = txn(wx, "PO2", "1500.00", business_type="PAYOUT", **payee)
    retry.created_at += timedelta(minutes=5)
    retry.save()
    lines(
        wx,
        D,
        {"txn_no": "PO1", "amount": "1500.00", "line_type": "PAYOUT", "fee": "2.00"},
        {"txn_no": "PO2", "amount": "1500.00", "line_type": "PAYOUT", "fee": "2.00"},
    )
    reconcile(wx)
    d = Discrepancy.objects.get(type="DOUBLE_PAYMENT_RISK")
    assert suggest(d).action == "RECOVERY"
    approve(propose(d, "RECOVERY", clerk), checker)
    claim = Claim.objects.get()
    assert (claim.kind, claim.amount, claim.counterparty) == ("PAYEE", Decimal("1500.00"), "王五")


@pytest.mark.django_db
def test_write_off_only_under_the_channels_limit(wx, clerk, checker):
    txn(wx, "SMALL", "10.00")
    txn(wx, "BIG", "100.00")
    lines(wx, D, {"txn_no": "SMALL", "amount": "9.99"}, {"txn_no": "BIG", "amount": "50.00"})
    reconcile(wx)
    small, big = (Discrepancy.objects.get(match_key=k) for k in ("SMALL", "BIG"))
    with pytest.raises(WorkflowRefused, match="above the write-off limit"):
        propose(big, "WRITE_OFF", clerk)
    approve(propose(small, "WRITE_OFF", clerk), checker)
    adjustment = Adjustment.objects.get()
    assert (adjustment.debit_account, adjustment.amount) == ("6711.02", Decimal("0.01"))  # a shortage: an expense


@pytest.mark.django_db
def test_extend_carry_over_for_many_items(wx, clerk, checker):
    for n in range(3):
        txn(wx, f"W{n}", "5.00")
    lines(wx, D, {"txn_no": "X", "amount": "1.00"})
    reconcile(wx)
    carried = list(Discrepancy.objects.filter(state="CARRIED_OVER", type="PLATFORM_ONLY"))
    assert len(carried) == 3 and all(d.carry_until == D + timedelta(days=2) for d in carried)
    for d in carried:
        approve(propose(d, "EXTEND_CARRY_OVER", clerk, reason="the channel said the file comes late", days=3), checker)
    assert {d.carry_until for d in Discrepancy.objects.filter(pk__in=[d.pk for d in carried])} == {D + timedelta(days=5)}
    assert set(Discrepancy.objects.filter(pk__in=[d.pk for d in carried]).values_list("state", flat=True)) == {"CARRIED_OVER"}


@pytest.mark.django_db
def test_assign_and_the_trail_is_append_only(unknown_paid, clerk):
    assert (
        discrepancies_assign(
            discrepancies=Discrepancy.objects.all(), assignee=clerk, acting_user=clerk, now=NOW(), source="127.0.0.1"
        )
        == 1
    )
    event = WorkflowEvent.objects.get(kind="ASSIGNED")
    assert event.after["assigned_to"] == clerk.pk
    with pytest.raises(DatabaseError), transaction.atomic():
        WorkflowEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        event.delete()


@pytest.mark.django_db
def test_a_proposal_needs_a_reason_and_a_fitting_action(unknown_paid, clerk):
    with pytest.raises(WorkflowRefused, match="reason"):
        propose(unknown_paid, "SUPPLEMENT", clerk, reason="ok")
    with pytest.raises(WorkflowRefused, match="does not apply"):
        propose(unknown_paid, "RECOVERY", clerk)
    with pytest.raises(WorkflowRefused, match="shortage"):
        propose(unknown_paid, "CLAIM", clerk)  # an overage: nothing to claim
    assert not Resolution.objects.exists()
