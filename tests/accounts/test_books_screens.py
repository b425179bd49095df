"""The books' screens: every role reads them; only a clerk enters an offline item and only another
person with the checker's permission posts it — refused in the service, and by the pages with 403."""

from decimal import Decimal

import pytest
from django.utils import timezone
from helpers import D, fee_of, lines, reconcile, txn

from accounts.models import LedgerRole, Voucher
from accounts.services.books import ledger_for


def offline_post(client, *, memo="bank charge paid at the counter", debit="12.00", credit="12.00"):
    expense, suspense = ledger_for(LedgerRole.FEE_EXPENSE, "CNY"), ledger_for(LedgerRole.SUSPENSE, "CNY")
    data = {
        "business_date": D.isoformat(), "memo": memo, "e-TOTAL_FORMS": "6", "e-INITIAL_FORMS": "0",
        "e-0-ledger_account": expense.pk, "e-0-debit": debit, "e-1-ledger_account": suspense.pk, "e-1-credit": credit,
    }  # fmt: skip
    return client.post("/books/vouchers/new/", data)


@pytest.mark.django_db
def test_every_role_reads_the_books_and_the_run_fills_them(client, wx, clerk, checker, auditor, admin_staff):
    txn(wx, "C1", "100.00", fee=fee_of("100.00"))
    lines(wx, D, {"txn_no": "C1", "amount": "100.00"})
    reconcile(wx)
    voucher = Voucher.objects.get()
    clearing = voucher.entries.get(ledger_account__code="1122.WX").ledger_account
    for who in (clerk, checker, auditor, admin_staff):
        client.force_login(who)
        page = client.get(f"/books/?date={D.isoformat()}").content.decode()
        assert "1122.WX" in page and "debits equal credits" in page and "NOT balanced" not in page
        ledger = client.get(f"/books/ledger/{clearing.pk}/?date={D.isoformat()}").content.decode()
        assert voucher.number in ledger and "99.40" in ledger  # 100.00 less the 0.60 fee the channel nets
        assert voucher.number in client.get("/books/vouchers/?kind=COLLECTION").content.decode()
        assert "1122.WX" in client.get(f"/books/vouchers/{voucher.pk}/").content.decode()
    client.force_login(auditor)
    assert "Kind: Collections" in client.get("/books/vouchers/?kind=COLLECTION").content.decode()  # says it is filtered


@pytest.mark.django_db
def test_an_offline_item_through_the_screens_needs_a_clerk_and_another_persons_approval(client, clerk, checker, auditor):
    for who in (auditor, checker):
        client.force_login(who)
        assert offline_post(client).status_code == 403
    assert not Voucher.objects.exists()
    client.force_login(clerk)
    page = offline_post(client, credit="11.00")
    assert page.status_code == 200 and "does not balance in CNY" in page.content.decode()
    response = offline_post(client)
    voucher = Voucher.objects.get()
    assert response.status_code == 302 and voucher.status == "PROPOSED" and voucher.proposed_by == clerk
    assert client.post(f"/books/vouchers/{voucher.pk}/approve/").status_code == 403  # the clerk: no permission
    client.force_login(auditor)
    assert client.post(f"/books/vouchers/{voucher.pk}/approve/").status_code == 403
    client.force_login(checker)
    assert "Approve and post" in client.get(f"/books/vouchers/{voucher.pk}/").content.decode()
    client.post(f"/books/vouchers/{voucher.pk}/approve/", {"comment": "receipt seen"})
    voucher.refresh_from_db()
    assert (voucher.status, voucher.decided_by, voucher.decision_comment) == ("POSTED", checker, "receipt seen")
    assert voucher.posted_at <= timezone.now()
    page = client.get(f"/books/?date={D.isoformat()}").content.decode()
    assert "12.00" in page and Decimal("12.00") == sum(e.debit for e in voucher.entries.all())


@pytest.mark.django_db
def test_a_customer_accounts_balance_comes_from_its_postings(client, wx, auditor, make_customer, make_account):
    account = make_account(make_customer(), kind="SETTLEMENT")
    txn(wx, "C1", "100.00", fee=fee_of("100.00"), account=account)
    txn(wx, "R1", "30.00", business_type="REFUND", account=account)
    lines(wx, D, {"txn_no": "C1", "amount": "100.00"})
    reconcile(wx)
    client.force_login(auditor)
    page = client.get(f"/books/accounts/{account.pk}/").content.decode()
    assert "70.00" in page and page.count("2202.01") == 2  # the collection and the refund, each one entry
