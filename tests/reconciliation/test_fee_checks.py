"""Fees in stage 1: the channel's fee against our fee model and against the fee we recorded; a fee where no
model applies is flagged; the day's fees against the bill's footer."""

import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from helpers import D, fee_of, lines, reconcile, txn, wechat_bill, wechat_rows

from reconciliation.models import Discrepancy, PlatformTransaction, StatementFormat
from reconciliation.services.intake.statements import statement_parse, statement_receive
from reconciliation.services.workflow.resolution import discrepancy_propose, resolution_approve
from reconciliation.services.workflow.suggestions import suggest


def take_in(channel, data: bytes):
    received = statement_receive(
        channel=channel, content=io.BytesIO(data), original_name="bill.csv", source="UPLOAD", acting_user=None,
        now=timezone.now(),
    )  # fmt: skip
    return statement_parse(statement_file=received, now=timezone.now(), reconcile=False)


@pytest.mark.django_db
def test_our_recorded_fee_is_compared_with_the_channels(wx, clerk, checker):
    fee = fee_of("100.00")  # 0.60, as the model expects and the channel charges
    txn(wx, "OURS-OFF", "100.00", fee=Decimal("0.50"))
    txn(wx, "ALL-AGREE", "100.00", fee=fee)
    lines(wx, D, {"txn_no": "OURS-OFF", "amount": "100.00"}, {"txn_no": "ALL-AGREE", "amount": "100.00"})
    run = reconcile(wx)
    d = Discrepancy.objects.get()
    assert (d.type, d.platform_fee, d.bank_fee, d.expected_fee, d.effect) == (
        "FEE_MISMATCH", Decimal("0.50"), fee, fee, 0,
    )  # fmt: skip
    assert run.counts["outcomes"]["MATCHED"]["count"] == 1
    hint = suggest(d)
    assert hint.action == "ACCEPT_BANK" and "0.50" in hint.why
    r = discrepancy_propose(
        discrepancy=d, action="ACCEPT_BANK", reason="our fee was stale", params={}, acting_user=clerk,
        now=timezone.now(), source="test",
    )  # fmt: skip
    resolution_approve(resolution=r, acting_user=checker, now=timezone.now(), source="test")
    assert PlatformTransaction.objects.get(txn_no="OURS-OFF").fee == fee
    assert not reconcile(wx).findings.exists()


@pytest.mark.django_db
def test_the_channel_charging_off_contract_is_a_fee_mismatch_even_when_our_record_copied_it(wx):
    txn(wx, "COPIED", "100.00", fee=Decimal("0.80"))
    lines(wx, D, {"txn_no": "COPIED", "amount": "100.00", "fee": "0.80"})
    reconcile(wx)
    d = Discrepancy.objects.get()
    assert (d.type, d.expected_fee, d.effect, d.direction) == ("FEE_MISMATCH", Decimal("0.60"), Decimal("-0.20"), "SHORTAGE")
    assert suggest(d).action == "CLAIM"


@pytest.mark.django_db
def test_a_fee_where_no_fee_model_applies_is_flagged_not_accepted(wx):
    txn(wx, "TOPUP-FEE", "50.00", business_type="RECHARGE")
    txn(wx, "TOPUP-FREE", "50.00", business_type="RECHARGE")
    lines(
        wx, D,
        {"txn_no": "TOPUP-FEE", "amount": "50.00", "line_type": "RECHARGE", "fee": "0.30"},
        {"txn_no": "TOPUP-FREE", "amount": "50.00", "line_type": "RECHARGE", "fee": "0"},
    )  # fmt: skip
    reconcile(wx)
    d = Discrepancy.objects.get()
    assert (d.match_key, d.type, d.expected_fee, d.bank_fee, d.effect) == (
        "TOPUP-FEE", "FEE_MISMATCH", None, Decimal("0.30"), Decimal("-0.30"),
    )  # fmt: skip
    assert "no fee model" in suggest(d).why


@pytest.mark.django_db
def test_the_days_fees_are_checked_against_the_bills_footer(wx, client, clerk):
    good = take_in(wx, wechat_bill(wechat_rows(3)))
    lenient = StatementFormat.objects.create(channel=wx, kind="BUSINESS", format_code="WECHAT_TRADE", strict_totals=False)
    bad_bill = wechat_bill(wechat_rows(2, start=10)).replace(b"`0.08000,", b"`0.10000,")
    received = statement_receive(
        channel=wx, content=io.BytesIO(bad_bill), original_name="bad.csv", source="UPLOAD", acting_user=None,
        now=timezone.now(), statement_format=lenient,
    )  # fmt: skip
    bad = statement_parse(statement_file=received, now=timezone.now(), reconcile=False)
    assert bad.status == "PARSED" and "手续费总金额" in bad.warnings[0]["reason"]
    run = reconcile(wx)
    assert run.counts["controls"] == [
        {"control": "FEE_TOTAL", "file_id": good.pk, "file": "bill.csv", "declared": "0.12", "lines": "0.12", "ok": True},
        {"control": "FEE_TOTAL", "file_id": bad.pk, "file": "bad.csv", "declared": "0.10", "lines": "0.08", "ok": False},
    ]
    # The run page shows both controls: the one that agrees and the one that differs, with the gap.
    client.force_login(clerk)
    page = client.get(reverse("reconciliation:run_detail", args=[run.pk])).content.decode()
    assert page.count('class="control-ok"') == 1 and page.count('class="control-fail"') == 1
    assert "bad.csv" in page and "-0.02" in page
