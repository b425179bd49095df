"""Stage 2, fund reconciliation (资金对账): the settlements clearing expects against the money that moved on
our bank account, over several days, re-run in any order."""

import json
from datetime import time, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from helpers import D, fee_of, lines, local_dt, movements, reconcile, reconcile_funds, txn
from rest_framework.test import APIClient

from accounts.models import LedgerRole, Voucher
from accounts.services.books import ledger_balance, ledger_for, trial_balance
from reconciliation.models import Discrepancy, FeeModel, ReconciliationRun
from reconciliation.services.engine.runs import run_execute
from reconciliation.services.postings import bank_deposit_account, channel_clearing_account

D1 = D + timedelta(days=1)
D2 = D + timedelta(days=2)


def live(channel):
    return {
        (d.type, d.state, d.effect)
        for d in Discrepancy.objects.filter(channel=channel)
        .exclude(state="RESOLVED")
        .exclude(type__in=["BANK_ONLY", "PLATFORM_ONLY"])
    }


def a_day_of_collections(channel, *amounts, day=D):
    for n, amount in enumerate(amounts):
        txn(channel, f"{channel.code}-{day:%d}-{n}", amount, fee=fee_of(amount), day=day)
    lines(channel, day, *({"txn_no": f"{channel.code}-{day:%d}-{n}", "amount": a} for n, a in enumerate(amounts)))
    reconcile(channel, day)


@pytest.mark.django_db
def test_internal_fees_settle_net_external_fees_settle_gross_on_the_same_day(make_channel, make_fee_model, general_account):
    inside = make_channel("INSIDE")
    make_fee_model(inside, rate=Decimal("0.006"))
    outside = make_channel("OUTSIDE")
    external = {"charging_mode": FeeModel.ChargingMode.EXTERNAL, "charged_account": general_account}
    make_fee_model(outside, rate=Decimal("0.006"), **external)
    a_day_of_collections(inside, "100.00", "200.00")
    a_day_of_collections(outside, "100.00", "200.00")
    net = Decimal("300.00") - fee_of("100.00") - fee_of("200.00")
    movements(inside, D1, {"amount": str(net), "memo": f"SETTLEMENT {D:%Y%m%d}"})
    movements(outside, D1, {"amount": "300.00", "memo": f"SETTLEMENT {D:%Y%m%d}"})
    for channel in (inside, outside):
        run = reconcile_funds(channel, D1)
        (outcome, row), *others = run.counts["outcomes"].items()
        assert (outcome, row["count"], Decimal(row["amount"]), others) == (
            "MATCHED", 1, Decimal("300.00") if channel == outside else net, [],
        )  # fmt: skip
        assert not live(channel)
    # The books: the settlement moved the channel's clearing balance to the bank; 内扣 leaves nothing, 外扣
    # leaves the fee owed apart (2202.02), not in clearing.
    assert ledger_balance(channel_clearing_account(inside)) == 0
    assert ledger_balance(channel_clearing_account(outside)) == 0
    assert ledger_balance(bank_deposit_account(inside.settlement_account)) == net + Decimal("300.00")
    assert trial_balance(as_of=D1).balanced


@pytest.mark.django_db
def test_a_t0_channel_settles_three_batches_a_day(make_channel, make_fee_model):
    t0 = make_channel("TZERO", settlement_cycle="T0", settlement_times=[time(10), time(15), time(20)])
    make_fee_model(t0, rate=Decimal("0.01"))
    for n, (hour, amount) in enumerate([(9, "100.00"), (14, "200.00"), (19, "300.00")]):
        txn(t0, f"T{n}", amount, fee=Decimal(amount) / 100, created_at=local_dt(D.year, D.month, D.day, hour))
    lines(
        t0,
        D,
        *({"txn_no": f"T{n}", "amount": a, "fee": str(Decimal(a) / 100)} for n, a in enumerate(["100.00", "200.00", "300.00"])),
    )
    reconcile(t0, D)
    movements(t0, D, {"amount": "99.00"}, {"amount": "198.00"}, {"amount": "297.00"})
    run = reconcile_funds(t0, D)
    assert run.counts["outcomes"]["MATCHED"]["count"] == 3  # three batches, each paired with its movement
    assert not live(t0)


@pytest.mark.django_db
def test_a_batch_payout_with_two_items_returned_a_day_later(make_channel):
    payer = make_channel("PAYER", kind="BANK_DIRECT")
    for n, status in enumerate(["SUCCESS", "SUCCESS", "FAILED", "FAILED"]):
        txn(payer, f"B1-{n}", "100.00", status=status, business_type="BATCH_PAYOUT", batch_no="B1", channel_txn_no=f"S{n}")
    reconcile(payer, D)
    movements(payer, D, {"direction": "DEBIT", "amount": "400.00", "batch_ref": "B1"})
    first = reconcile_funds(payer, D)
    # The two failed items' money has not come back yet: waiting, not yet a discrepancy to work.
    assert live(payer) == {("SETTLEMENT_AMOUNT_MISMATCH", "CARRIED_OVER", Decimal("-200.00"))}
    assert first.counts["outcomes"]["SETTLEMENT_AMOUNT_MISMATCH"]["count"] == 1
    movements(
        payer, D1,
        {"amount": "100.00", "batch_ref": "B1", "business_ref": "S2"},
        {"amount": "100.00", "batch_ref": "B1", "business_ref": "S3"},
    )  # fmt: skip
    reconcile_funds(payer, D1)
    reconcile_funds(payer, D)  # the debit's date again: now the returns are in, the batch balances
    assert not live(payer)
    assert Discrepancy.objects.get(type="SETTLEMENT_AMOUNT_MISMATCH").closed_as == "SETTLED"
    # A return for an item we hold as paid is money back we did not expect.
    movements(payer, D2, {"amount": "100.00", "batch_ref": "B1", "business_ref": "S0"})
    reconcile_funds(payer, D2)
    assert live(payer) == {("RETURN_UNMATCHED", "OPEN", Decimal("100.00"))}


@pytest.mark.django_db
def test_an_unexpected_bank_charge_and_a_short_settlement(wx):
    a_day_of_collections(wx, "1000.00")
    net = Decimal("1000.00") - fee_of("1000.00")
    movements(
        wx, D1,
        {"amount": str(net - Decimal("5.00")), "memo": f"SETTLEMENT {D:%Y%m%d}"},
        {"direction": "DEBIT", "amount": "12.00", "memo": "ACCOUNT CHARGES"},
    )  # fmt: skip
    reconcile_funds(wx, D1)
    assert live(wx) == {
        ("SETTLEMENT_AMOUNT_MISMATCH", "OPEN", Decimal("-5.00")),
        ("UNEXPECTED_MOVEMENT", "OPEN", Decimal("-12.00")),
    }
    charge = Discrepancy.objects.get(type="UNEXPECTED_MOVEMENT")
    assert charge.fund_movement.memo == "ACCOUNT CHARGES" and charge.business_date == D1
    # What settled is in the books (the short amount too); the charge waits for the clerk's 调账.
    assert ledger_balance(channel_clearing_account(wx)) == Decimal("5.00")


@pytest.mark.django_db
def test_a_missing_settlement_waits_then_closes_when_it_arrives_late_in_any_run_order(wx):
    a_day_of_collections(wx, "500.00")
    net = Decimal("500.00") - fee_of("500.00")
    reconcile_funds(wx, D1)
    assert live(wx) == {("SETTLEMENT_MISSING", "CARRIED_OVER", -net)}
    movements(wx, D2, {"amount": str(net), "memo": "SETTLEMENT"})
    reconcile_funds(wx, D2)
    assert not live(wx)
    d = Discrepancy.objects.get(type="SETTLEMENT_MISSING")
    assert (d.state, d.closed_as) == ("RESOLVED", "SETTLED")
    vouchers = Voucher.objects.count()
    for day in (D1, D2, D1, D2):  # re-runs in any order: nothing comes back, nothing is posted again
        again = reconcile_funds(wx, day)
        assert set(again.counts["discrepancies"]) <= {"CONFIRMED"}
    assert not live(wx) and Voucher.objects.count() == vouchers


@pytest.mark.django_db
def test_fund_runs_through_the_command_and_the_api(wx, clerk):
    a_day_of_collections(wx, "100.00")
    movements(wx, D1, {"direction": "DEBIT", "amount": "3.00", "memo": "FEE"})
    out = StringIO()
    call_command("reconcile", "--stage", "fund", "--channel", wx.code, "--date", D1.isoformat(), "--json", stdout=out)
    answer = json.loads(out.getvalue())
    assert answer["status"] == "SUCCEEDED" and answer["counts"]["UNEXPECTED_MOVEMENT"] == 1
    kinds = {(d["type"], d["state"], d["effect"], d["direction"]) for d in answer["discrepancies"]}
    assert ("UNEXPECTED_MOVEMENT", "OPEN", "-3.00", "SHORTAGE") in kinds
    assert ("SETTLEMENT_MISSING", "CARRIED_OVER") in {(k[0], k[1]) for k in kinds}
    api = APIClient()
    api.force_authenticate(clerk)
    made = api.post("/api/runs/", {"channel": wx.code, "business_date": D1.isoformat(), "stage": "FUND"}, format="json")
    assert made.status_code == 202 and made.json()["stage"] == "FUND"


@pytest.mark.django_db
def test_the_screens_request_a_fund_run_and_show_the_movement(client, wx, clerk, auditor):
    a_day_of_collections(wx, "100.00")
    movements(wx, D1, {"direction": "DEBIT", "amount": "3.00", "memo": "ACCOUNT CHARGES"})
    request = {"channel": wx.pk, "business_date": D1.isoformat(), "stage": "FUND"}
    client.force_login(auditor)
    assert client.post("/runs/request/", request).status_code == 403
    client.force_login(clerk)
    response = client.post("/runs/request/", request)
    run = ReconciliationRun.objects.get(stage="FUND")
    assert response.status_code == 302 and run.business_date == D1
    run_execute(run=run, now=timezone.now())  # the worker's part
    charge = Discrepancy.objects.get(type="UNEXPECTED_MOVEMENT")
    page = client.get(f"/discrepancies/{charge.pk}/").content.decode()
    assert "ACCOUNT CHARGES" in page and "The movement on our bank account" in page
    assert 'list="chart-accounts"' in page and "1122.WX" in page  # the chart's codes offered for the 调账


@pytest.mark.django_db
def test_the_daily_fund_report_sets_expected_against_moved_with_its_discrepancies(client, wx, auditor):
    a_day_of_collections(wx, "1000.00")
    net = Decimal("1000.00") - fee_of("1000.00")
    movements(
        wx, D1,
        {"amount": str(net - Decimal("5.00")), "memo": f"SETTLEMENT {D:%Y%m%d}"},
        {"direction": "DEBIT", "amount": "12.00", "memo": "ACCOUNT CHARGES"},
    )  # fmt: skip
    client.force_login(auditor)
    before = client.get(f"/funds/?channel={wx.pk}&date={D1.isoformat()}").content.decode()
    assert "run the date to record it" in before  # read before any fund run: nothing written by the report
    assert not Discrepancy.objects.filter(type__in=["UNEXPECTED_MOVEMENT", "SETTLEMENT_AMOUNT_MISMATCH"]).exists()
    reconcile_funds(wx, D1)
    page = client.get(f"/funds/?channel={wx.pk}&date={D1.isoformat()}").content.decode()
    short, charge = (Discrepancy.objects.get(type=t) for t in ("SETTLEMENT_AMOUNT_MISMATCH", "UNEXPECTED_MOVEMENT"))
    assert f"#{short.pk}" in page and f"#{charge.pk}" in page and "ACCOUNT CHARGES" in page
    assert str(net) in page and "-5.00" in page and "-12.00" in page


@pytest.mark.django_db
@pytest.mark.parametrize("charged, found", [("right", None), ("more", "FEE_CHARGE_MISMATCH")])
def test_an_external_fee_is_expected_as_its_own_charge_on_the_billed_account(
    make_channel, make_fee_model, general_account, charged, found
):
    outside = make_channel("OUTSIDE")
    external = {"charging_mode": FeeModel.ChargingMode.EXTERNAL, "charged_account": general_account}
    make_fee_model(outside, rate=Decimal("0.006"), **external)
    a_day_of_collections(outside, "100.00", "200.00")
    a_day_of_collections(outside, "500.00", day=D1)
    due = fee_of("100.00") + fee_of("200.00") + fee_of("500.00")
    amount = due if charged == "right" else due + Decimal("1.00")
    movements(outside, D2, {"direction": "DEBIT", "amount": str(amount), "memo": "FEE"}, bank_account=general_account)
    reconcile_funds(outside, D2)
    fees = Discrepancy.objects.filter(type__in=["FEE_CHARGE_MISMATCH", "UNEXPECTED_MOVEMENT"])
    assert [d.type for d in fees] == ([] if found is None else [found])
    if found:
        assert fees.get().effect == Decimal("-1.00")  # charged a yuan more than the fees billed apart
    else:  # the fees owed apart are paid: nothing left payable
        assert ledger_balance(ledger_for(LedgerRole.CHANNEL_FEE_PAYABLE, "CNY")) == 0
