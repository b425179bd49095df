"""Stage 1 run again, in any order, after later days and after people's decisions: nothing settled moves.

Each test reproduces a case seen on an earlier engine (a phantom carry-over after a cross-day match, a
resolved item coming back, an open batch carried again, expiry undone) and pins what must happen.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from helpers import D, lines, reconcile, txn

from reconciliation.models import Discrepancy, PlatformTransaction, Resolution, WorkflowEvent
from reconciliation.services.engine.runs import discrepancies_open_expired
from reconciliation.services.intake.corrections import statement_replace
from reconciliation.services.workflow.resolution import discrepancy_propose, resolution_approve
from reconciliation.services.workflow.states import AlreadyDecided

D1, D2, D3 = D + timedelta(days=1), D + timedelta(days=2), D + timedelta(days=3)


def live(channel):
    """The live discrepancies as (type, key, state, effect): what a re-run must leave as it was."""
    return sorted(
        (d.type, d.match_key, d.state, format(d.effect.normalize(), "f"))
        for d in Discrepancy.objects.filter(channel=channel).exclude(state="RESOLVED")
    )


def everything(channel):
    return sorted(
        (d.pk, d.type, d.state, d.closed_as, d.platform_txn_id, d.statement_line_id, format(d.effect.normalize(), "f"))
        for d in Discrepancy.objects.filter(channel=channel)
    )


def propose(d, action, user, **params):
    return discrepancy_propose(
        discrepancy=d,
        action=action,
        reason="checked with the channel",
        params=params,
        acting_user=user,
        now=timezone.now(),
        source="test",
    )


def approve(r, user):
    return resolution_approve(resolution=r, acting_user=user, now=timezone.now(), source="test")


@pytest.fixture
def across_midnight(wx):
    """Day D: our LATE has no line yet, the channel's BLATE no record of ours. Day D+1 brings both."""
    txn(wx, "LATE", "45.00")
    txn(wx, "X1", "1.00")
    lines(wx, D, {"txn_no": "X1", "amount": "1.00"}, {"txn_no": "BLATE", "amount": "9.00"})
    lines(wx, D1, {"txn_no": "LATE", "amount": "45.00"})
    txn(wx, "BLATE", "9.00", day=D1)
    return wx


@pytest.mark.django_db
def test_re_running_a_day_after_the_next_matched_its_carried_items_changes_nothing(across_midnight):
    wx = across_midnight
    reconcile(wx, D)
    assert live(wx) == [("BANK_ONLY", "BLATE", "CARRIED_OVER", "9"), ("PLATFORM_ONLY", "LATE", "CARRIED_OVER", "-45")]
    reconcile(wx, D1)
    assert live(wx) == []
    settled = everything(wx)
    for day in (D, D1, D, D1):
        again = reconcile(wx, day)
        assert everything(wx) == settled  # no phantom carry-over, nothing reopened, nothing new
        assert again.counts["discrepancies"] == {}
    assert PlatformTransaction.objects.filter(channel=wx).count() == 3


@pytest.mark.django_db
def test_the_order_of_runs_does_not_matter(across_midnight, make_channel, make_fee_model):
    wx = across_midnight
    reconcile(wx, D1)  # the later day first: its items wait for the earlier one
    assert live(wx) == [("BANK_ONLY", "LATE", "CARRIED_OVER", "45"), ("PLATFORM_ONLY", "BLATE", "CARRIED_OVER", "-9")]
    reconcile(wx, D)  # the earlier day matches them across midnight, backwards
    assert live(wx) == []
    closed = Discrepancy.objects.filter(channel=wx)
    assert {(d.match_key, d.closed_as) for d in closed} == {("LATE", "CROSS_DAY_MATCH"), ("BLATE", "CROSS_DAY_MATCH")}
    assert all(d.platform_txn_id and d.statement_line_id for d in closed)
    reconcile(wx, D1)
    reconcile(wx, D)
    assert live(wx) == [] and Discrepancy.objects.filter(channel=wx).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["WRITE_OFF", "ADJUSTMENT"])
def test_what_a_person_resolved_never_comes_back(wx, clerk, checker, action):
    txn(wx, "AMT", "10.00")
    txn(wx, "OURS", "5.00")
    lines(wx, D, {"txn_no": "AMT", "amount": "9.99"}, {"txn_no": "X", "amount": "1.00"})
    txn(wx, "X", "1.00")
    reconcile(wx)
    d = Discrepancy.objects.get(match_key="AMT")
    params = {"debit_account": "6711.02", "credit_account": "2241.01", "amount": "0.01"} if action == "ADJUSTMENT" else {}
    approve(propose(d, action, clerk, **params), checker)
    settled = everything(wx)
    for day in (D, D1, D):
        reconcile(wx, day)
    after = {row[0]: row for row in everything(wx)}
    assert after[d.pk] == next(row for row in settled if row[0] == d.pk)  # still resolved, not recreated
    assert not Discrepancy.objects.filter(match_key="AMT").exclude(pk=d.pk).exists()


@pytest.mark.django_db
def test_an_opened_batch_item_or_an_expired_item_never_goes_back_to_waiting(wx):
    txn(wx, "B2-0", "50.00", business_type="BATCH_PAYOUT", batch_no="B2")
    txn(wx, "B2-1", "70.00", status="FAILED", business_type="BATCH_PAYOUT", batch_no="B2")
    txn(wx, "NEVER", "12.00")
    lines(wx, D, {"batch_ref": "B2", "amount": "120.00", "line_type": "BATCH_PAYOUT", "fee": "2.00"})
    reconcile(wx)
    assert live(wx) == [("PLATFORM_ONLY", "NEVER", "CARRIED_OVER", "-12"), ("STATUS_MISMATCH", "B2-1", "CARRIED_OVER", "-70")]
    opened = discrepancies_open_expired(today=D3 + timedelta(days=1), now=timezone.now())
    assert opened == 2
    assert set(WorkflowEvent.objects.filter(kind="OPENED").values_list("source", flat=True)) == {"schedule"}
    reconcile(wx, D)
    reconcile(wx, D1)
    assert live(wx) == [("PLATFORM_ONLY", "NEVER", "OPEN", "-12"), ("STATUS_MISMATCH", "B2-1", "OPEN", "-70")]


@pytest.mark.django_db
def test_a_run_past_an_items_window_opens_it_and_an_older_date_run_later_opens_at_once(wx):
    txn(wx, "NEVER", "12.00")
    lines(wx, D3, {"txn_no": "Z", "amount": "1.00"})
    txn(wx, "Z", "1.00", day=D3)
    reconcile(wx, D3)  # the channel's runs are already past D + 2
    reconcile(wx, D)
    d = Discrepancy.objects.get(match_key="NEVER")
    assert (d.state, d.carry_until) == ("OPEN", D2)  # its window ended: no waiting for files already reconciled


@pytest.mark.django_db
def test_a_proposal_on_an_item_whose_other_side_arrives_different_is_withdrawn_and_the_item_reclassified(wx, clerk, checker):
    """A 补单 proposed for a line we had no record of: our record then arrives, for another amount. The
    proposal's premise is gone (approving it would create a second order); the run withdraws it and says
    what the item is now, so its money is counted once (found by the stage-1 state machine)."""
    lines(wx, D1, {"txn_no": "K5", "amount": "25.00"})
    reconcile(wx, D1)
    d = Discrepancy.objects.get(match_key="K5")
    r = propose(d, "SUPPLEMENT", clerk)
    txn(wx, "K5", "10.00", day=D)
    reconcile(wx, D)  # our record's date: it pairs with the later line
    d.refresh_from_db()
    r.refresh_from_db()
    assert r.status == Resolution.Status.WITHDRAWN
    assert (d.type, d.state, d.effect, d.platform_txn.txn_no) == ("AMOUNT_MISMATCH", "OPEN", 15, "K5")
    kinds = list(d.workflow_events.order_by("id").values_list("kind", flat=True))
    assert kinds == ["FOUND", "PROPOSED", "WITHDRAWN", "WITHDRAWN", "RECLASSIFIED"]
    with pytest.raises(AlreadyDecided, match="withdrawn"):
        approve(r, checker)
    assert PlatformTransaction.objects.filter(channel=wx).count() == 1  # no second order


@pytest.mark.django_db
def test_a_proposal_on_an_item_a_later_day_matches_is_withdrawn_never_executed(wx, clerk, checker):
    txn(wx, "LATE", "45.00")
    lines(wx, D, {"txn_no": "X1", "amount": "1.00"})
    txn(wx, "X1", "1.00")
    reconcile(wx, D)
    d = Discrepancy.objects.get(match_key="LATE")
    r = propose(d, "ACCEPT_BANK", clerk)
    lines(wx, D1, {"txn_no": "LATE", "amount": "45.00"})
    run = reconcile(wx, D1)
    d.refresh_from_db()
    r.refresh_from_db()
    assert (d.state, d.closed_as, d.matched_run) == ("RESOLVED", "CROSS_DAY_MATCH", run)
    assert r.status == Resolution.Status.WITHDRAWN
    kinds = list(d.workflow_events.order_by("id").values_list("kind", flat=True))
    assert kinds == ["FOUND", "PROPOSED", "MATCHED", "WITHDRAWN"]
    with pytest.raises(AlreadyDecided, match="withdrawn"):
        approve(r, checker)
    assert PlatformTransaction.objects.get(txn_no="LATE").status == "SUCCESS"  # not marked failed


@pytest.mark.django_db
def test_a_late_record_closes_the_days_discrepancy_when_the_day_is_run_again(wx):
    lines(wx, D, {"txn_no": "NEW1", "amount": "66.00"})
    first = reconcile(wx)
    d = Discrepancy.objects.get()
    assert (d.type, d.state) == ("BANK_ONLY", "CARRIED_OVER")
    txn(wx, "NEW1", "66.00")  # the payment core's record arrives late
    again = reconcile(wx)
    d.refresh_from_db()
    assert (d.state, d.closed_as, d.matched_run) == ("RESOLVED", "REMATCHED", again)
    assert first.counts["discrepancies"] == {"FOUND": 1} and again.counts["discrepancies"] == {"CLOSED": 1}
    assert list(again.findings.values_list("discrepancy", "change")) == [(d.pk, "CLOSED")]


@pytest.mark.django_db
def test_a_live_item_found_different_is_updated_in_place_with_its_history(wx):
    txn(wx, "OURS", "45.00")
    lines(wx, D, {"txn_no": "X", "amount": "1.00"})
    txn(wx, "X", "1.00")
    reconcile(wx, D)
    d = Discrepancy.objects.get(match_key="OURS")
    lines(wx, D1, {"txn_no": "OURS", "amount": "40.00"})  # the channel lists it the next day, for less
    run = reconcile(wx, D1)
    d.refresh_from_db()
    assert (d.type, d.state, d.effect, d.counterpart_date) == ("AMOUNT_MISMATCH", "OPEN", -5, D1)
    assert Discrepancy.objects.filter(channel=wx).count() == 1
    event = d.workflow_events.get(kind="RECLASSIFIED")
    assert (event.before["type"], event.after["type"], event.source) == ("PLATFORM_ONLY", "AMOUNT_MISMATCH", f"run #{run.pk}")
    assert run.counts["discrepancies"] == {"UPDATED": 1}


@pytest.mark.django_db
def test_pending_on_both_sides_waits_until_one_side_finishes(wx, clerk, django_capture_on_commit_callbacks):
    pending = txn(wx, "P1", "18.00", status="UNKNOWN")
    first = lines(wx, D, {"txn_no": "P1", "amount": "18.00", "status": "PROCESSING"})
    reconcile(wx)
    d = Discrepancy.objects.get()
    assert (d.type, d.state, d.effect, d.carry_until) == ("BOTH_PENDING", "CARRIED_OVER", 0, D2)
    # Our side finishes first: now there is something to compare.
    pending.status = "SUCCESS"
    pending.save()
    reconcile(wx)
    d.refresh_from_db()
    assert (d.type, d.state, d.platform_status, d.bank_status) == ("STATUS_MISMATCH", "OPEN", "SUCCESS", "PROCESSING")
    # The channel re-sends the day's bill with its final word: the same transaction, now matched.
    corrected = lines(wx, D, {"txn_no": "P1", "amount": "18.00"})
    with django_capture_on_commit_callbacks(execute=True):
        statement_replace(replaced=first, replacement=corrected, reason="final statuses", acting_user=clerk, now=timezone.now())
    d.refresh_from_db()
    assert (d.state, d.closed_as, d.statement_line.file) == ("RESOLVED", "REMATCHED", corrected)
    assert not Discrepancy.objects.exclude(state="RESOLVED").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("first", ["ours", "theirs"])
def test_a_failure_the_channel_lists_a_day_later_is_agreed_whichever_date_runs_first_and_again(wx, first):
    """Found by the stage-1 state machine: our payment failed on D, the channel lists it failed on D+1.
    The pair is agreed (nothing to do) by the run of either date, and re-runs in any order find nothing."""
    later = D + timedelta(days=1)
    txn(wx, "FAILED-X", "10.00", status="FAILED")
    lines(wx, later, {"txn_no": "FAILED-X", "amount": "10.00", "status": "FAILED"})
    order = [D, later] if first == "ours" else [later, D]
    for day in order:
        reconcile(wx, day)
    assert not Discrepancy.objects.exclude(state="RESOLVED").exists()
    for day in [later, D, later, D]:
        again = reconcile(wx, day)
        assert set(again.counts["discrepancies"]) <= {"CONFIRMED"}, (day, again.counts["discrepancies"])
    assert not Discrepancy.objects.exclude(state="RESOLVED").exists()
