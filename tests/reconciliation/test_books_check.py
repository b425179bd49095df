"""Book-to-bank check (账实核对): our bank journal against the bank's statement, balances and lines; a
difference is a discrepancy resolved by a voucher (补账) through the workflow."""

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from helpers import D, movements, reconcile_funds

from accounts.models import LedgerRole, Voucher
from accounts.services.books import Line, ledger_for, voucher_post
from reconciliation.models import Discrepancy, StatementFile
from reconciliation.services.postings import bank_deposit_account
from reconciliation.services.workflow.resolution import discrepancy_propose, resolution_approve

D1 = D + timedelta(days=1)
NOW = timezone.now()


def check(account, day=D1) -> dict:
    out = StringIO()
    call_command("books_check", "--bank-account", account.account_no, "--date", day.isoformat(), "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def opened(wx):
    """The reserve account opens with 1,000.00 in our books and at the bank."""
    bank = bank_deposit_account(wx.settlement_account)
    voucher_post(
        kind=Voucher.Kind.OPENING, business_date=D, memo="opening", source_key="opening", now=NOW,
        lines=[Line(bank, debit=Decimal("1000.00")), Line(ledger_for(LedgerRole.EQUITY, "CNY"), credit=Decimal("1000.00"))],
    )  # fmt: skip
    return wx


def statement(channel, day, *rows, opening, closing):
    f = movements(channel, day, *rows)
    StatementFile.objects.filter(pk=f.pk).update(metadata={"opening_balance": opening, "closing_balance": closing})
    return f


@pytest.mark.django_db
def test_a_charge_missing_from_our_journal_is_booked_by_a_voucher_and_the_books_meet_the_bank(
    opened, clerk, checker, auditor, client
):
    wx = opened
    statement(wx, D1, {"direction": "DEBIT", "amount": "12.00", "memo": "ACCOUNT CHARGES"}, opening="1000.00", closing="988.00")
    answer = check(wx.settlement_account)
    balances = ("journal_opening", "journal_closing", "statement_opening", "statement_closing", "difference")
    assert {k: answer[k] for k in balances} == {
        "journal_opening": "1000.00", "journal_closing": "1000.00", "statement_opening": "1000.00",
        "statement_closing": "988.00", "difference": "-12.00",
    }  # fmt: skip
    client.force_login(auditor)
    page = client.get(f"/runs/{answer['run_id']}/").content.decode()
    assert "Bank journal against the bank" in page and "-12.00 CNY" in page and "988.00 CNY" in page
    (found,) = answer["discrepancies"]
    assert (found["type"], found["state"], found["effect"], found["direction"]) == (
        "JOURNAL_MISSING",
        "OPEN",
        "-12.00",
        "SHORTAGE",
    )
    d = Discrepancy.objects.get(type="JOURNAL_MISSING")
    bank = bank_deposit_account(wx.settlement_account)
    r = discrepancy_propose(
        discrepancy=d, action="ADJUSTMENT", reason="bank charge, receipt attached", acting_user=clerk, now=NOW, source="t",
        params={"debit_account": "6421.01", "credit_account": bank.code, "amount": "12.00", "memo": "account charges"},
    )  # fmt: skip
    resolution_approve(resolution=r, acting_user=checker, now=NOW, source="t")
    again = check(wx.settlement_account)
    assert again["journal_closing"] == "988.00" and again["difference"] == "0.00" and again["discrepancies"] == []
    d.refresh_from_db()
    assert (d.state, d.closed_as) == ("RESOLVED", "ADJUSTED")


@pytest.mark.django_db
def test_a_movement_stage_two_already_flagged_is_not_flagged_twice_and_an_entry_without_a_movement_is(opened):
    wx = opened
    statement(wx, D1, {"direction": "DEBIT", "amount": "7.00", "memo": "FEE"}, opening="1000.00", closing="993.00")
    reconcile_funds(wx, D1)
    assert Discrepancy.objects.filter(type="UNEXPECTED_MOVEMENT").count() == 1
    bank = bank_deposit_account(wx.settlement_account)
    voucher_post(
        kind=Voucher.Kind.OFFLINE, business_date=D1, memo="transfer we thought we made", source_key="x", now=NOW,
        lines=[Line(ledger_for(LedgerRole.SUSPENSE, "CNY"), debit=Decimal("50.00")), Line(bank, credit=Decimal("50.00"))],
    )  # fmt: skip
    answer = check(wx.settlement_account)
    assert [(x["type"], x["effect"]) for x in answer["discrepancies"]] == [("JOURNAL_EXTRA", "50.00")]
    assert answer["difference"] == "43.00"  # the bank 993.00, our journal 950.00
    assert check(wx.settlement_account)["discrepancies"][0]["state"] == "OPEN"  # run again: the same one, not a second
    assert Discrepancy.objects.filter(type="JOURNAL_EXTRA").count() == 1
