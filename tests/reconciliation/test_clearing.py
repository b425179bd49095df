"""Clearing (清分): per settlement batch and per merchant, from the transactions stage 1 confirmed, with the
fee model valid at each transaction's time; 内扣 nets the fee, 外扣 bills it apart."""

import json
from datetime import time, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from helpers import D, fee_of, lines, local_dt, reconcile, txn

from reconciliation.models import FeeModel
from reconciliation.services.engine.clearing import clearing_compute


def at(hour, minute=0):
    return local_dt(D.year, D.month, D.day, hour, minute)


@pytest.mark.django_db
def test_internal_and_external_fees_settle_differently_on_the_same_day(wx, make_customer, make_merchant):
    shop = make_merchant(make_customer())
    txn(wx, "C1", "100.00", merchant=shop)
    txn(wx, "C2", "250.00", merchant=shop)
    txn(wx, "R1", "50.00", business_type="REFUND", merchant=shop)
    txn(wx, "P1", "1000.00", business_type="PAYOUT")  # 外扣: 2.00 billed to the general account
    txn(wx, "F1", "70.00", status="FAILED", merchant=shop)
    result = clearing_compute(channel=wx, day=D).as_json()
    collected = fee_of("100.00") + fee_of("250.00")
    returned = fee_of("50.00")
    fee = collected - returned + Decimal("2.00")
    assert result["batches"] == [
        {
            "batch": 1, "settles_on": (D + timedelta(days=1)).isoformat(), "count": 4, "currency": "CNY",
            "gross": "-700.00", "fee": str(fee), "fee_apart": "2.00",
            "net": str(Decimal("-700.00") - (collected - returned)),
        }
    ]  # fmt: skip
    assert result["merchants"][0]["merchant_no"] == shop.merchant_no
    assert result["merchants"][0]["count"] == 3 and result["merchants"][0]["gross"] == "300.00"
    assert result["merchants"][0]["net"] == str(Decimal("300.00") - (collected - returned))
    assert result["merchants"][1]["merchant_no"] == "" and result["merchants"][1]["net"] == "-1000.00"
    assert result["totals"]["net"] == result["batches"][0]["net"]


@pytest.mark.django_db
def test_a_t0_channel_settles_three_times_a_day_and_after_the_last_time_the_next_day(make_channel, make_fee_model):
    t0 = make_channel("T0CH", settlement_cycle="T0", settlement_times=[time(15, 0), time(10, 0), time(20, 0)])
    make_fee_model(t0, rate=Decimal("0.01"))
    txn(t0, "A", "100.00", created_at=at(9, 59))
    txn(t0, "B", "200.00", created_at=at(10, 0))  # up to and including 10:00: the first settlement
    txn(t0, "C", "300.00", created_at=at(14, 30))
    txn(t0, "D", "400.00", created_at=at(19, 0))
    txn(t0, "E", "500.00", created_at=at(22, 0))
    batches = clearing_compute(channel=t0, day=D).batches
    assert [(b.batch, b.settles_on, b.figures.count, b.figures.gross, b.figures.net) for b in batches] == [
        (1, D, 2, Decimal("300.00"), Decimal("297.00")),
        (2, D, 1, Decimal("300.00"), Decimal("297.00")),
        (3, D, 1, Decimal("400.00"), Decimal("396.00")),
        (4, D + timedelta(days=1), 1, Decimal("500.00"), Decimal("495.00")),
    ]


@pytest.mark.django_db
def test_the_fee_model_valid_at_the_transactions_time_applies(make_channel, make_fee_model, general_account):
    ch = make_channel("FEECH")
    make_fee_model(ch, rate=Decimal("0.01"), valid_to=at(12))
    external = {"charging_mode": FeeModel.ChargingMode.EXTERNAL, "charged_account": general_account}
    make_fee_model(ch, rate=Decimal("0.02"), valid_from=at(12), **external)
    txn(ch, "MORNING", "100.00", created_at=at(11))
    txn(ch, "AFTERNOON", "100.00", created_at=at(13))
    totals = clearing_compute(channel=ch, day=D).totals
    assert (totals.fee, totals.fee_apart, totals.net) == (Decimal("3.00"), Decimal("2.00"), Decimal("199.00"))


@pytest.mark.django_db
def test_only_what_stage_one_confirmed_is_cleared_and_the_command_answers_json(wx):
    txn(wx, "BOTH", "100.00")
    txn(wx, "OURS-ONLY", "40.00")
    lines(wx, D, {"txn_no": "BOTH", "amount": "100.00"})
    reconcile(wx)  # OURS-ONLY is platform-only: the channel does not hold it, so it will not settle it
    out = StringIO()
    call_command("clearing", "--channel", wx.code, "--date", D.isoformat(), "--json", stdout=out)
    answer = json.loads(out.getvalue())
    assert set(answer) >= {"channel", "business_date", "batches", "merchants", "totals"}
    assert answer["totals"]["count"] == 1 and answer["totals"]["gross"] == "100.00"
    assert answer["batches"][0]["net"] == str(Decimal("100.00") - fee_of("100.00"))
    assert answer["batches"][0]["settles_on"] == (D + timedelta(days=1)).isoformat()  # T+1


@pytest.mark.django_db
def test_the_clearing_screen_and_its_export_show_the_same_figures(client, wx, auditor, make_customer, make_merchant):
    shop = make_merchant(make_customer(), name="星辰餐厅")
    txn(wx, "C1", "100.00", merchant=shop)
    client.force_login(auditor)
    page = client.get(f"/clearing/?channel={wx.pk}&date={D.isoformat()}").content.decode()
    net = str(Decimal("100.00") - fee_of("100.00"))
    assert "星辰餐厅" in page and net in page and "receivable" in page
    sheet = client.get(f"/clearing/export.csv?channel={wx.pk}&date={D.isoformat()}")
    assert sheet.status_code == 200 and net in b"".join(sheet.streaming_content).decode("utf-8-sig")
    assert client.get("/clearing/export.xlsx").status_code == 400  # no channel, no date: refused, not guessed
