"""The workflow through the screens and the API: the same rules, clear answers."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from helpers import D, api_key_for, lines, reconcile, stored_discrepancy, stored_run, txn
from rest_framework.test import APIClient

from reconciliation.models import Discrepancy, PlatformTransaction, ReconciliationRun, RefundOrder, Resolution


@pytest.fixture
def mismatch(wx):
    txn(wx, "U1", "88.00", status="UNKNOWN")
    lines(wx, D, {"txn_no": "U1", "amount": "88.00"})
    reconcile(wx)
    return Discrepancy.objects.get(type="STATUS_MISMATCH")


def api_as(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(user)}", HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.mark.django_db
def test_screens_propose_then_refuse_self_approval_then_checker_approves(client, mismatch, clerk, checker):
    client.force_login(clerk)
    detail = reverse("reconciliation:discrepancy_detail", args=[mismatch.pk])
    page = client.get(detail).content.decode()
    assert "Supplement" in page and "Propose a resolution" in page
    client.post(
        reverse("reconciliation:discrepancy_act", args=[mismatch.pk, "propose"]),
        {"action": "SUPPLEMENT", "reason": "the channel's file shows success"},
    )
    resolution = Resolution.objects.get()
    page = client.get(detail).content.decode()
    assert "You proposed this" in page and 'value="' + str(resolution.pk) + '"' not in page  # no decision form
    response = client.post(
        reverse("reconciliation:discrepancy_act", args=[mismatch.pk, "approve"]), {"resolution": resolution.pk}
    )
    assert response.status_code == 403 and "may not approve" in response.content.decode()  # a clerk's role never approves
    client.force_login(checker)
    response = client.post(
        reverse("reconciliation:discrepancy_act", args=[mismatch.pk, "approve"]),
        {"resolution": resolution.pk, "comment": "ok"},
        follow=True,
    )
    assert "Approved and executed" in response.content.decode()
    assert PlatformTransaction.objects.get(txn_no="U1").status == "SUCCESS"
    history = client.get(detail).content.decode()
    for step in ("Proposed", "Approved", "Executed"):
        assert step in history


@pytest.mark.django_db
def test_auditor_reads_the_item_but_cannot_act(client, mismatch, auditor):
    client.force_login(auditor)
    detail = client.get(reverse("reconciliation:discrepancy_detail", args=[mismatch.pk]))
    assert detail.status_code == 200 and "Propose a resolution" not in detail.content.decode()
    response = client.post(
        reverse("reconciliation:discrepancy_act", args=[mismatch.pk, "propose"]),
        {"action": "SUPPLEMENT", "reason": "trying anyway"},
    )
    assert response.status_code == 403 and "may not propose" in response.content.decode()
    assert not Resolution.objects.exists()


@pytest.mark.django_db
def test_bulk_assign_and_bulk_extend_from_the_queue(client, wx, clerk):
    for n in range(3):
        txn(wx, f"W{n}", "5.00")
    lines(wx, D, {"txn_no": "X", "amount": "1.00"})
    reconcile(wx)
    ids = list(Discrepancy.objects.order_by("id").values_list("id", flat=True))
    client.force_login(clerk)
    client.post(reverse("reconciliation:discrepancy_bulk"), {"ids": ids, "bulk_action": "assign_me"})
    assert set(Discrepancy.objects.values_list("assigned_to", flat=True)) == {clerk.pk}
    response = client.post(
        reverse("reconciliation:discrepancy_bulk"),
        {"ids": ids, "bulk_action": "extend", "days": 2, "reason": "the channel sends late files"},
        follow=True,
    )
    assert "4 extension(s) proposed" in response.content.decode()
    assert Resolution.objects.filter(action="EXTEND_CARRY_OVER").count() == 4


@pytest.mark.django_db
def test_saved_filters_are_per_person(client, clerk, make_staff):
    client.force_login(clerk)
    client.post(reverse("reconciliation:saved_filter_save"), {"name": "WeChat shortages", "query": "direction=SHORTAGE"})
    assert "WeChat shortages" in client.get(reverse("reconciliation:discrepancy_list")).content.decode()
    client.force_login(make_staff("clerk"))
    assert "WeChat shortages" not in client.get(reverse("reconciliation:discrepancy_list")).content.decode()


@pytest.mark.django_db
def test_api_workflow_obeys_the_same_rules(mismatch, clerk, checker, make_staff):
    clerk_api, checker_api = api_as(clerk), api_as(checker)
    bad = clerk_api.post(f"/api/discrepancies/{mismatch.pk}/propose/", {"action": "SUPPLEMENT", "reason": "ok"}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()["detail"]
    proposed = clerk_api.post(
        f"/api/discrepancies/{mismatch.pk}/propose/",
        {"action": "SUPPLEMENT", "reason": "confirmed with the channel"},
        format="json",
    )
    assert proposed.status_code == 201
    rid = proposed.json()["id"]
    own = clerk_api.post(f"/api/resolutions/{rid}/approve/", {}, format="json")
    assert own.status_code == 403 and "may not approve" in own.json()["detail"]
    done = checker_api.post(f"/api/resolutions/{rid}/approve/", {"comment": "fine"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "EXECUTED"
    again = api_as(make_staff("checker")).post(f"/api/resolutions/{rid}/approve/", {}, format="json")
    assert again.status_code == 409 and "nothing was done twice" in again.json()["detail"]


@pytest.mark.django_db
def test_payment_core_lists_pending_refunds_and_reports_them(wx, clerk, checker, django_user_model):
    lines(wx, D, {"txn_no": "STRAY", "amount": "30.00"})
    reconcile(wx)
    d = Discrepancy.objects.get()
    rid = (
        api_as(clerk)
        .post(
            f"/api/discrepancies/{d.pk}/propose/",
            {"action": "REFUND", "reason": "not our customer's payment", "params": {"amount": "30.00"}},
            format="json",
        )
        .json()["id"]
    )
    api_as(checker).post(f"/api/resolutions/{rid}/approve/", {}, format="json")
    core = django_user_model.objects.create_user(username="core")
    core.groups.add(Group.objects.get(name="payment_core"))
    core_api = api_as(core)
    pending = core_api.get("/api/refund-orders/", {"status": "PENDING"}).json()["results"]
    assert [(o["amount"], o["status"]) for o in pending] == [("30.0000", "PENDING")]
    reported = core_api.post(
        f"/api/refund-orders/{pending[0]['id']}/outcome/",
        json.dumps({"status": "SUCCEEDED", "channel_txn_no": "50300001"}),
        content_type="application/json",
    )
    assert reported.status_code == 200 and reported.json()["refund_txn_no"] == pending[0]["refund_no"]
    assert RefundOrder.objects.get().status == "SUCCEEDED"
    assert Discrepancy.objects.get().closed_as == "REFUNDED"


@pytest.mark.django_db
def test_the_bulk_action_never_sends_the_user_off_the_site(client, wx, clerk):
    d = stored_discrepancy(wx, "5.00")
    client.force_login(clerk)
    for target in ("https://evil.example/phish", "//evil.example/", "/discrepancies/?state=OPEN"):
        response = client.post(
            reverse("reconciliation:discrepancy_bulk"), {"ids": [d.pk], "bulk_action": "assign_me", "next": target}
        )
        assert response.status_code == 302
        assert response["Location"] == (target if target.startswith("/discrepancies") else "/discrepancies/")


@pytest.mark.django_db
def test_a_run_of_a_future_or_absurd_date_is_refused_everywhere(client, wx, clerk):
    from io import StringIO

    from django.core.management import CommandError, call_command
    from django.utils import timezone

    tomorrow = timezone.localdate() + timedelta(days=1)
    client.force_login(clerk)
    page = client.post(reverse("reconciliation:run_request"), {"channel": wx.pk, "business_date": tomorrow}, follow=True)
    assert "is in the future" in page.content.decode()
    api = APIClient()
    api.force_authenticate(clerk)
    for day in (tomorrow, "0001-01-01", "9999-12-31"):
        answer = api.post("/api/runs/", {"channel": wx.code, "business_date": str(day)}, format="json")
        assert answer.status_code == 400 and "business_date" in answer.json(), answer.content
    with pytest.raises(CommandError, match="1999-01-01"):  # in the language the command speaks
        call_command("reconcile", "--channel", wx.code, "--date", "1999-01-01", stdout=StringIO())
    # Before the channel existed (its first fee model takes effect on 2025-01-01): the screen, the API and
    # the command all say so.
    page = client.post(reverse("reconciliation:run_request"), {"channel": wx.pk, "business_date": "2024-12-31"}, follow=True)
    assert "before channel WX existed" in page.content.decode()
    answer = api.post("/api/runs/", {"channel": wx.code, "business_date": "2024-12-31"}, format="json")
    refusal = str(answer.json()["business_date"])  # in the API's language: the dates say it
    assert answer.status_code == 400 and "2024-12-31" in refusal and "2025-01-01" in refusal
    with pytest.raises(CommandError, match="2024-12-31"):
        call_command("reconcile", "--channel", wx.code, "--date", "2024-12-31", stdout=StringIO())
    assert not ReconciliationRun.objects.exists()
    # A run's outcome in any format the router offers answers, never a server error.
    run = stored_run(wx)
    assert api.get(f"/api/runs/{run.pk}/outcome/").status_code == 200
    assert api.get(f"/api/runs/{run.pk}/outcome.json").status_code == 200
