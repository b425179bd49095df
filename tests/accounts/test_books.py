"""The books: vouchers balance per currency (the database refuses one that does not), posted vouchers
never change, offline items need a second person, postings follow the business once, the trial
balance balances."""

import json
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from helpers import D, fee_of, lines, local_dt, reconcile, txn

from accounts.models import Entry, LedgerRole, Voucher
from accounts.services.books import (
    BooksRefused,
    Line,
    ledger_balance,
    ledger_for,
    party_balance,
    trial_balance,
    voucher_approve,
    voucher_post,
    voucher_propose,
    voucher_reject,
    voucher_reverse,
)
from reconciliation.models import Discrepancy, ReconciliationRun
from reconciliation.services.intake.transactions import TransactionInput, transactions_upsert
from reconciliation.services.postings import channel_clearing_account
from reconciliation.services.workflow.resolution import discrepancy_propose, resolution_approve

NOW = timezone.now()


def two_lines(amount="10.00", currency="CNY"):
    a, b = ledger_for(LedgerRole.SUSPENSE, currency), ledger_for(LedgerRole.FEE_EXPENSE, currency)
    return [Line(b, debit=Decimal(amount)), Line(a, credit=Decimal(amount))]


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_voucher_that_does_not_balance():
    suspense, expense = ledger_for(LedgerRole.SUSPENSE, "CNY"), ledger_for(LedgerRole.FEE_EXPENSE, "CNY")
    with pytest.raises(IntegrityError, match="does not balance in CNY"):
        with transaction.atomic():
            v = Voucher.objects.create(number="X1", kind="OFFLINE", business_date=D, memo="raw", status="POSTED", posted_at=NOW)
            Entry.objects.create(voucher=v, ledger_account=expense, debit=Decimal("10.00"), currency="CNY")
            Entry.objects.create(voucher=v, ledger_account=suspense, credit=Decimal("9.99"), currency="CNY")
    # Balanced in total but not per currency: refused as well.
    usd = ledger_for(LedgerRole.SUSPENSE, "USD")
    with pytest.raises(IntegrityError, match="does not balance"):
        with transaction.atomic():
            v = Voucher.objects.create(number="X2", kind="OFFLINE", business_date=D, memo="raw", status="POSTED", posted_at=NOW)
            Entry.objects.create(voucher=v, ledger_account=expense, debit=Decimal("10.00"), currency="CNY")
            Entry.objects.create(voucher=v, ledger_account=usd, credit=Decimal("10.00"), currency="USD")
    # A voucher without entries, and an entry in another currency than its account's.
    with pytest.raises(IntegrityError, match="has no entries"):
        with transaction.atomic():
            Voucher.objects.create(number="X3", kind="OFFLINE", business_date=D, memo="raw", status="POSTED", posted_at=NOW)
    with pytest.raises(IntegrityError, match="another currency"):
        with transaction.atomic():
            v = Voucher.objects.create(number="X4", kind="OFFLINE", business_date=D, memo="raw", status="POSTED", posted_at=NOW)
            Entry.objects.create(voucher=v, ledger_account=expense, debit=Decimal("10.00"), currency="USD")
    assert not Voucher.objects.exists() and not Entry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_posted_voucher_cannot_be_changed_only_reversed():
    v = voucher_post(kind="OFFLINE", business_date=D, memo="fee", lines=two_lines(), source_key="t:1", now=NOW)
    entry = v.entries.first()
    for attempt in (
        lambda: Entry.objects.filter(pk=entry.pk).update(debit=Decimal("11.00")),
        lambda: Entry.objects.filter(pk=entry.pk).delete(),
        lambda: Voucher.objects.filter(pk=v.pk).update(memo="changed"),
        lambda: Voucher.objects.filter(pk=v.pk).update(status="REJECTED"),
        lambda: Voucher.objects.filter(pk=v.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    # An entry added to a voucher written earlier is refused, balanced or not.
    with pytest.raises(IntegrityError, match="already written"), transaction.atomic():
        Entry.objects.create(voucher=v, ledger_account=entry.ledger_account, debit=Decimal("1.00"), currency="CNY")
    reversal = voucher_reverse(voucher=v, business_date=D, memo="entered twice", now=NOW, source_key="rev:1")
    assert reversal.reversal_of == v and ledger_balance(ledger_for(LedgerRole.FEE_EXPENSE, "CNY")) == 0
    with pytest.raises(BooksRefused, match="already reversed"):
        voucher_reverse(voucher=v, business_date=D, memo="again", now=NOW, source_key="rev:2")


@pytest.mark.django_db
def test_posting_twice_with_the_same_source_posts_once():
    first = voucher_post(kind="OFFLINE", business_date=D, memo="fee", lines=two_lines(), source_key="same", now=NOW)
    second = voucher_post(kind="OFFLINE", business_date=D, memo="fee", lines=two_lines(), source_key="same", now=NOW)
    assert first == second and Voucher.objects.count() == 1 and Entry.objects.count() == 2


@pytest.mark.django_db
def test_unbalanced_or_odd_lines_get_a_clear_refusal_before_the_database():
    suspense = ledger_for(LedgerRole.SUSPENSE, "CNY")
    with pytest.raises(BooksRefused, match="does not balance in CNY: debits exceed credits by 0.01"):
        voucher_post(
            kind="OFFLINE", business_date=D, memo="x", now=NOW, source_key="a",
            lines=[Line(suspense, debit=Decimal("1.01")), Line(ledger_for(LedgerRole.FEE_INCOME, "CNY"), credit=Decimal("1.00"))],
        )  # fmt: skip
    with pytest.raises(BooksRefused, match="Entry 2: give a positive debit or a positive credit"):
        voucher_post(
            kind="OFFLINE", business_date=D, memo="x", now=NOW, source_key="b",
            lines=[Line(suspense, debit=Decimal("1")), Line(suspense, debit=Decimal("-1"))],
        )  # fmt: skip
    with pytest.raises(BooksRefused, match="more decimals than CNY"):
        voucher_post(kind="OFFLINE", business_date=D, memo="x", now=NOW, source_key="c", lines=two_lines("1.001"))
    assert not Voucher.objects.exists()


@pytest.mark.django_db
def test_an_offline_item_is_posted_only_when_another_person_approves(clerk, checker, auditor):
    with pytest.raises(BooksRefused, match="not allowed to enter"):
        voucher_propose(business_date=D, memo="bank charge paid in cash", lines=two_lines(), acting_user=auditor, now=NOW)
    v = voucher_propose(business_date=D, memo="bank charge paid in cash", lines=two_lines(), acting_user=clerk, now=NOW)
    assert v.status == "PROPOSED" and trial_balance(as_of=D).rows and ledger_balance(v.entries.first().ledger_account) == 0
    for who in (clerk, auditor):
        with pytest.raises(BooksRefused):
            voucher_approve(voucher=v, acting_user=who, now=NOW)
    v = voucher_approve(voucher=v, comment="seen the receipt", acting_user=checker, now=NOW)
    assert v.status == "POSTED" and v.posted_at and ledger_balance(ledger_for(LedgerRole.FEE_EXPENSE, "CNY")) == Decimal("10")
    with pytest.raises(BooksRefused, match="cannot become"):
        voucher_reject(voucher=v, comment="too late", acting_user=checker, now=NOW)
    rejected = voucher_propose(business_date=D, memo="typed the wrong amount", lines=two_lines(), acting_user=clerk, now=NOW)
    voucher_reject(voucher=rejected, comment="wrong amount", acting_user=checker, now=NOW)
    assert ledger_balance(ledger_for(LedgerRole.FEE_EXPENSE, "CNY")) == Decimal("10")


@pytest.mark.django_db
def test_a_run_posts_the_days_transactions_once_and_a_late_record_as_the_difference(wx, make_customer, make_account):
    merchant_account = make_account(make_customer(), kind="SETTLEMENT")
    txn(wx, "C1", "100.00", fee=fee_of("100.00"), account=merchant_account)
    txn(wx, "C2", "50.00", fee=fee_of("50.00"), account=merchant_account)
    txn(wx, "R1", "20.00", business_type="REFUND", fee=Decimal("0"), account=merchant_account)
    txn(wx, "F1", "70.00", status="FAILED")
    lines(wx, D, {"txn_no": "C1", "amount": "100.00"}, {"txn_no": "C2", "amount": "50.00"})
    reconcile(wx)
    clearing = channel_clearing_account(wx)
    fees = fee_of("100.00") + fee_of("50.00")
    assert ledger_balance(clearing) == Decimal("130.00") - fees  # 内扣: the channel nets its fee
    assert party_balance(merchant_account.pk) == Decimal("130.00")
    assert ledger_balance(ledger_for(LedgerRole.FEE_EXPENSE, "CNY")) == fees
    vouchers = Voucher.objects.count()
    reconcile(wx)
    reconcile(wx)
    assert Voucher.objects.count() == vouchers  # re-runs post nothing
    txn(wx, "C3", "10.00", fee=fee_of("10.00"), account=merchant_account)  # late record
    reconcile(wx)
    late = Voucher.objects.order_by("-id").first()
    # the difference only: clearing net of the fee, the merchant's payable, the fee
    assert Voucher.objects.count() == vouchers + 1 and late.entries.count() == 3
    assert party_balance(merchant_account.pk) == Decimal("140.00")
    assert trial_balance(as_of=D).balanced


@pytest.mark.django_db
def test_supplement_and_adjustment_post_and_free_text_accounts_are_refused(wx, clerk, checker):
    lines(wx, D, {"txn_no": "MISSING", "amount": "88.00"}, {"txn_no": "SHORT", "amount": "99.00"})
    txn(wx, "SHORT", "100.00", fee=fee_of("99.00"))
    reconcile(wx)
    missing = Discrepancy.objects.get(type="BANK_ONLY")
    r = discrepancy_propose(
        discrepancy=missing, action="SUPPLEMENT", reason="the core lost it", params={}, acting_user=clerk, now=NOW, source="t"
    )
    resolution_approve(resolution=r, acting_user=checker, now=NOW, source="t")
    supplement = Voucher.objects.get(kind="SUPPLEMENT")
    assert supplement.source_key == f"resolution:{r.pk}:COLLECTION" and supplement.entries.count() >= 2
    short = Discrepancy.objects.get(type="AMOUNT_MISMATCH")
    with pytest.raises(Exception, match="not an open account of the chart"):
        discrepancy_propose(
            discrepancy=short, action="ADJUSTMENT", reason="rounding", acting_user=clerk, now=NOW, source="t",
            params={"debit_account": "whatever", "credit_account": "1122.WX", "amount": "1.00"},
        )  # fmt: skip
    r = discrepancy_propose(
        discrepancy=short, action="ADJUSTMENT", reason="channel short-paid", acting_user=clerk, now=NOW, source="t",
        params={"debit_account": "6711.02", "credit_account": "1122.WX", "amount": "1.00"},
    )  # fmt: skip
    resolution_approve(resolution=r, acting_user=checker, now=NOW, source="t")
    adjustment = Voucher.objects.get(kind="ADJUSTMENT")
    assert {(e.ledger_account.code, e.debit, e.credit) for e in adjustment.entries.all()} == {
        ("6711.02", Decimal("1.00"), 0),
        ("1122.WX", 0, Decimal("1.00")),
    }
    assert trial_balance(as_of=D).balanced


@pytest.mark.django_db
def test_trial_balance_command_json(wx):
    txn(wx, "C1", "100.00", fee=fee_of("100.00"))
    lines(wx, D, {"txn_no": "C1", "amount": "100.00"})
    reconcile(wx)
    out = StringIO()
    call_command("trial_balance", "--date", D.isoformat(), "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["balanced"] is True and report["totals"]["CNY"]["debit"] == report["totals"]["CNY"]["credit"]
    clearing = next(a for a in report["accounts"] if a["code"] == "1122.WX")
    assert clearing["balance"] == str(Decimal("100.00") - fee_of("100.00"))
    call_command("trial_balance", "--date", date(2026, 11, 23).isoformat(), "--json", stdout=(earlier := StringIO()))
    assert json.loads(earlier.getvalue())["totals"]["CNY"]["debit"] == "0.00"


@pytest.mark.django_db
def test_a_late_record_of_a_reconciled_date_runs_it_again_and_is_posted(wx, django_capture_on_commit_callbacks):
    txn(wx, "C1", "100.00", fee=fee_of("100.00"))
    lines(wx, D, {"txn_no": "C1", "amount": "100.00"}, {"txn_no": "LATE", "amount": "30.00"})
    reconcile(wx)
    clearing = channel_clearing_account(wx)
    before = ledger_balance(clearing)
    record = TransactionInput(
        ref="1", txn_no="LATE", channel_code="WX", business_type="COLLECTION", amount=Decimal("30.00"), currency="CNY",
        status="SUCCESS", created_at=local_dt(2026, 11, 24, 13, 0), business_date=D, fee=fee_of("30.00"),
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        transactions_upsert(inputs=[record], source="API", now=NOW)
    run = ReconciliationRun.objects.order_by("-pk").first()
    assert (run.trigger, run.business_date, run.status) == ("RECORDS", D, "SUCCEEDED")
    assert ledger_balance(clearing) == before + Decimal("30.00") - fee_of("30.00")
    assert not Discrepancy.objects.filter(state__in=["OPEN", "CARRIED_OVER"]).exists()  # the bank-only line matched
