"""Manual pairing (手工勾兑): items of both sides that are one payment under different numbers, closed
together on a checker's approval; what they leave over is one new discrepancy; a run that matches one of
them first withdraws the pairing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from helpers import D, lines, reconcile, txn

from reconciliation.models import Discrepancy, Resolution, WorkflowEvent
from reconciliation.services.workflow.pairing import discrepancies_pair, pairing_preview
from reconciliation.services.workflow.resolution import (
    AlreadyDecided,
    WorkflowRefused,
    resolution_approve,
    resolution_reject,
)
from reconciliation.services.workflow.suggestions import suggest

D2 = D + timedelta(days=1)


def pair(items, user, reason="our order was keyed under a wrong number"):
    return discrepancies_pair(discrepancies=items, reason=reason, acting_user=user, now=timezone.now(), source="test")


def approve(r, user):
    return resolution_approve(resolution=r, acting_user=user, now=timezone.now(), source="test")


def by_key():
    return {d.match_key: d for d in Discrepancy.objects.all()}


@pytest.fixture
def wrong_number(wx):
    txn(wx, "ORD-1O0", "100.00")  # keyed with a letter O
    lines(wx, D, {"txn_no": "ORD-100", "amount": "100.00"})
    reconcile(wx)
    found = by_key()
    return found["ORD-1O0"], found["ORD-100"]


@pytest.mark.django_db
def test_a_pairing_closes_both_sides_on_approval_and_reruns_leave_them_closed(wrong_number, clerk, checker, wx):
    ours, theirs = wrong_number
    r = pair([theirs, ours], clerk)
    assert (r.action, r.discrepancy_id, r.amount) == ("MANUAL_MATCH", ours.pk, Decimal("100.00"))
    assert {d.state for d in Discrepancy.objects.all()} == {"PROPOSED"}
    approve(r, checker)
    assert {(d.state, d.closed_as) for d in Discrepancy.objects.all()} == {("RESOLVED", "MANUALLY_MATCHED")}
    r.refresh_from_db()
    assert (r.status, r.outcome["remainder"]) == ("EXECUTED", "0.00")
    assert WorkflowEvent.objects.filter(kind="EXECUTED", resolution=r).count() == 2
    for day in (D, D2, D):
        assert not reconcile(wx, day).findings.exists()
    assert Discrepancy.objects.count() == 2


@pytest.mark.django_db
def test_what_the_paired_items_leave_over_becomes_one_new_discrepancy(wx, clerk, checker):
    txn(wx, "BIG", "100.00")
    lines(wx, D, {"txn_no": "PART-1", "amount": "60.00"}, {"txn_no": "PART-2", "amount": "39.50"})
    reconcile(wx)
    items = list(Discrepancy.objects.all())
    preview = pairing_preview(discrepancies=items)
    assert (preview.ours_total, preview.theirs_total, preview.remainder) == (
        Decimal("100.00"),
        Decimal("99.50"),
        Decimal("-0.50"),
    )
    r = pair(items, clerk, reason="the channel split one payment in two")
    approve(r, checker)
    left = Discrepancy.objects.get(manual_pairing=r)
    assert (left.type, left.state, left.effect, left.direction, left.platform_txn, left.statement_line) == (
        "AMOUNT_MISMATCH", "OPEN", Decimal("-0.50"), "SHORTAGE", None, None,
    )  # fmt: skip
    assert "manual pairing" in suggest(left).why
    for day in (D, D2):
        reconcile(wx, day)
    left.refresh_from_db()
    assert left.state == "OPEN" and Discrepancy.objects.exclude(state="RESOLVED").get() == left


@pytest.mark.django_db
def test_only_items_alone_on_both_sides_of_one_channel_pair_and_only_a_clerk_pairs_them(
    wrong_number, wx, make_channel, clerk, auditor
):
    ours, theirs = wrong_number
    with pytest.raises(WorkflowRefused, match="one of the channel's"):
        pair([ours], clerk)
    other = make_channel("ZZ")
    txn(other, "ZZ-1", "100.00")
    reconcile(other)
    with pytest.raises(WorkflowRefused, match="one channel"):
        pair([ours, Discrepancy.objects.get(match_key="ZZ-1")], clerk)
    with pytest.raises(WorkflowRefused, match="not allowed"):
        pair([ours, theirs], auditor)
    with pytest.raises(WorkflowRefused, match="reason"):
        pair([ours, theirs], clerk, reason="")
    assert {d.state for d in Discrepancy.objects.filter(channel=wx)} == {"CARRIED_OVER"}
    assert not Resolution.objects.exists()


@pytest.mark.django_db
def test_an_item_a_later_day_matches_withdraws_the_pairing_which_is_never_executed(wx, clerk, checker):
    txn(wx, "LATE", "45.00")
    lines(wx, D, {"txn_no": "X9", "amount": "45.00"})
    reconcile(wx)
    found = by_key()
    r = pair([found["LATE"], found["X9"]], clerk, reason="looks like the same payment")
    lines(wx, D2, {"txn_no": "LATE", "amount": "45.00"})  # the channel lists ours after all
    reconcile(wx, D2)
    r.refresh_from_db()
    found = by_key()
    assert r.status == "WITHDRAWN"
    assert (found["LATE"].state, found["LATE"].closed_as) == ("RESOLVED", "CROSS_DAY_MATCH")
    assert found["X9"].state == "OPEN"
    assert found["X9"].workflow_events.filter(kind="WITHDRAWN", resolution=r).exists()
    with pytest.raises(AlreadyDecided, match="withdrawn"):
        approve(r, checker)


@pytest.mark.django_db
def test_a_rejected_pairing_sends_every_item_back(wrong_number, clerk, checker):
    r = pair(list(wrong_number), clerk)
    resolution_reject(resolution=r, comment="different payers", acting_user=checker, now=timezone.now(), source="test")
    assert {d.state for d in Discrepancy.objects.all()} == {"OPEN"}
    again = pair(list(wrong_number), clerk, reason="checked again with the payer")
    assert again.status == "PROPOSED"


# --- through the screens and the API -------------------------------------------------------------


def api_as(user):
    from helpers import api_key_for
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(user)}", HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.mark.django_db
def test_a_clerk_pairs_from_the_queue_and_a_checker_approves_on_either_item(client, wrong_number, clerk, checker):
    ours, theirs = wrong_number
    client.force_login(clerk)
    ticked = client.post("/discrepancies/bulk/", {"bulk_action": "pair", "ids": [ours.pk, theirs.pk], "next": "/discrepancies/"})
    assert ticked.status_code == 302 and ticked.url.startswith("/discrepancies/pair/?ids=")
    page = client.get(ticked.url).content.decode()
    assert "ORD-1O0" in page and "ORD-100" in page and "Propose the pairing" in page
    done = client.post("/discrepancies/pair/", {"ids": [ours.pk, theirs.pk], "reason": "wrong number keyed"})
    assert done.status_code == 302 and done.url == f"/discrepancies/{ours.pk}/"
    r = Resolution.objects.get()
    client.force_login(checker)
    page = client.get(f"/discrepancies/{theirs.pk}/").content.decode()
    assert "Pair manually" in page and "ORD-1O0" in page and "Approve" in page
    client.post(f"/discrepancies/{theirs.pk}/approve/", {"resolution": r.pk, "comment": "same payment"})
    assert {d.closed_as for d in Discrepancy.objects.all()} == {"MANUALLY_MATCHED"}


@pytest.mark.django_db
def test_the_auditor_sees_a_pairing_but_cannot_propose_one(client, wrong_number, auditor):
    ours, theirs = wrong_number
    client.force_login(auditor)
    page = client.get(f"/discrepancies/pair/?ids={ours.pk},{theirs.pk}").content.decode()  # a pasted link
    assert "ORD-100" in page and "ORD-1O0" in page and "Propose the pairing" not in page
    assert client.post("/discrepancies/pair/", {"ids": [ours.pk, theirs.pk], "reason": "wrong number keyed"}).status_code == 403
    assert (
        api_as(auditor)
        .post("/api/discrepancies/pair/", {"discrepancies": [ours.pk, theirs.pk], "reason": "wrong number keyed"}, format="json")
        .status_code
        == 403
    )
    assert not Resolution.objects.exists()


@pytest.mark.django_db
def test_the_api_pairs_and_says_clearly_what_is_wrong(wrong_number, clerk, checker):
    ours, theirs = wrong_number
    api = api_as(clerk)
    missing = api.post("/api/discrepancies/pair/", {"discrepancies": [ours.pk, 999999], "reason": "wrong number"}, format="json")
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    one_side = api.post("/api/discrepancies/pair/", {"discrepancies": [ours.pk, ours.pk], "reason": "x"}, format="json")
    assert one_side.status_code == 400
    made = api.post("/api/discrepancies/pair/", {"discrepancies": [ours.pk, theirs.pk], "reason": "wrong number"}, format="json")
    assert made.status_code == 201 and made.json()["action"] == "MANUAL_MATCH"
    assert made.json()["items"] == sorted([ours.pk, theirs.pk])
    again = api.post("/api/discrepancies/pair/", {"discrepancies": [ours.pk, theirs.pk], "reason": "wrong number"}, format="json")
    assert again.status_code == 409
    approved = api_as(checker).post(f"/api/resolutions/{made.json()['id']}/approve/", {"comment": "ok"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "EXECUTED"
