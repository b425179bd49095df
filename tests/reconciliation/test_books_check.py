"""Book-to-bank check (账实核对): our bank journal against the bank's statement, balances and lines; a
difference is a discrepancy resolved by a voucher (补账) through the workflow."""

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from helpers import D, movements, reconcile_funds

from accounts.models import LedgerAccount, LedgerRole, Voucher
from accounts.services.books import CHART, Line, ledger_for, voucher_post
from reconciliation.models import BankAccount, Discrepancy, StatementFile
from reconciliation.selectors.bank_journal import bank_journal
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


@pytest.mark.django_db
def test_a_movement_the_books_check_flagged_first_is_taken_over_by_stage_two_not_raised_twice(opened):
    wx = opened
    statement(wx, D1, {"direction": "DEBIT", "amount": "7.00", "memo": "FEE"}, opening="1000.00", closing="993.00")
    check(wx.settlement_account)
    missing = Discrepancy.objects.get(type="JOURNAL_MISSING")
    reconcile_funds(wx, D1)  # stage 2 says what the movement is: unexpected bank business
    missing.refresh_from_db()
    assert (missing.state, missing.closed_as) == ("RESOLVED", "SETTLED")
    (live,) = Discrepancy.objects.exclude(state="RESOLVED")
    assert (live.type, live.fund_movement_id) == ("UNEXPECTED_MOVEMENT", missing.fund_movement_id)
    check(wx.settlement_account)  # and the check, again, leaves it to stage 2
    reconcile_funds(wx, D1)
    assert list(Discrepancy.objects.exclude(state="RESOLVED")) == [live]


@pytest.mark.django_db
def test_a_movement_being_worked_from_the_books_check_is_left_there_by_stage_two(opened, clerk):
    wx = opened
    statement(wx, D1, {"direction": "DEBIT", "amount": "7.00", "memo": "FEE"}, opening="1000.00", closing="993.00")
    check(wx.settlement_account)
    missing = Discrepancy.objects.get(type="JOURNAL_MISSING")
    discrepancy_propose(
        discrepancy=missing, action="CLAIM", reason="the bank charged us twice", params={}, acting_user=clerk, now=NOW,
        source="t",
    )  # fmt: skip
    reconcile_funds(wx, D1)
    assert list(Discrepancy.objects.values_list("type", "state")) == [("JOURNAL_MISSING", "PROPOSED")]


@pytest.mark.django_db
def test_the_bank_journal_runs_date_by_date_against_the_banks_closing_balances(opened, client, auditor, clerk):
    wx = opened
    statement(wx, D1, {"direction": "DEBIT", "amount": "12.00", "memo": "ACCOUNT CHARGES"}, opening="1000.00", closing="988.00")
    bank = bank_deposit_account(wx.settlement_account)
    fees = ledger_for(LedgerRole.FEE_EXPENSE, "CNY")
    voucher_post(
        kind=Voucher.Kind.OFFLINE, business_date=D1, memo="account charges", source_key="charges", now=NOW,
        lines=[Line(fees, debit=Decimal("10.00")), Line(bank, credit=Decimal("10.00"))],
    )  # fmt: skip
    check(wx.settlement_account)  # the charge is not in our journal, our 10.00 is not at the bank
    journal = bank_journal(account=wx.settlement_account, first=D, last=D1 + timedelta(days=1))
    assert (journal.opening, journal.closing, journal.debit, journal.credit) == (0, Decimal("990.00"), 1000, 10)
    (d0, d1) = journal.days  # the date after has neither an entry nor a statement
    assert [(line.entry.debit, line.balance) for line in d0.lines] == [(Decimal("1000.00"), Decimal("1000.00"))]
    assert (d0.statement_closing, d0.difference) == (None, None)
    assert (d1.opening, d1.closing, d1.statement_closing, d1.difference) == (1000, 990, 988, -2)
    assert [line.balance for line in d1.lines] == [Decimal("990.00")]
    assert sorted(x.type for x in d1.open_items) == ["JOURNAL_EXTRA", "JOURNAL_MISSING"] and d1.open_effect == d1.difference

    url = f"/books/bank-journal/?account={wx.settlement_account.pk}&date_from={D}&date_to={D1}"
    for who in (auditor, clerk):
        client.force_login(who)
        page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "Bank journal" in page and "990.00 CNY" in page and "988.00 CNY" in page and "-2.00 CNY" in page
        assert "2 open discrepancies on this date account for -2.00 CNY" in page
    export = client.get(f"/books/bank-journal/export.csv?account={wx.settlement_account.pk}&date_from={D}&date_to={D1}")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert rows[-1][3:7] == ["Closing balance", "1000.00", "10.00", "990.00"]
    assert ["988.00"] == [r[6] for r in rows if r[3] == "Bank statement closing balance"]
    backwards = client.get(f"/books/bank-journal/?account={wx.settlement_account.pk}&date_from={D1}&date_to={D}")
    assert "The end date is before the start date." in backwards.content.decode()
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


@pytest.mark.django_db
def test_the_chart_is_seeded_when_a_bank_account_or_a_channel_is_set_up(bank, make_channel):
    account = BankAccount.objects.create(
        bank=bank, kind=BankAccount.Kind.RESERVE, account_no="6222999900001111", account_name="备付金二户", currency="USD"
    )
    seeded = LedgerAccount.objects.filter(currency="USD")
    assert f"1002.{bank.code}.6222999900001111" in set(seeded.values_list("code", flat=True))
    assert {c for c, _name, _type in CHART.values()} <= set(seeded.values_list("code", flat=True))
    make_channel("SEEDED", settlement_account=account, currency="USD")
    assert seeded.filter(code="1122.SEEDED", role=LedgerRole.CHANNEL_CLEARING).exists()
