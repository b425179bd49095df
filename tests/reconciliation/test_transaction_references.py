"""Our records' references (channel, original, merchant, account, supplemented line) are checked by the
database once per statement instead of by foreign keys (``TXN_REFERENCES``): everything a foreign key
refused is still refused — a reference to nothing, on insert or update, and deleting what a record refers
to, even by SQL that bypasses Django's PROTECT — and a referenced row is locked until the writer commits."""

from __future__ import annotations

import pgtrigger
import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from helpers import D, held_open, lines, txn

from reconciliation.models import PlatformTransaction
from reconciliation.models.transactions import TXN_REFERENCES

MISSING = 2**62


def _raw(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _refused(sql: str, params=(), *, says: str) -> None:
    with pytest.raises(IntegrityError, match=says), transaction.atomic():
        _raw(sql, params)


@pytest.mark.django_db
@pytest.mark.parametrize(("column", "table"), TXN_REFERENCES)
def test_a_record_referring_to_nothing_is_refused_on_insert_and_on_update(channel, column, table):
    if column == "original_id":  # only a refund has one
        record = txn(channel, "T1", "4.00", business_type="REFUND", original=txn(channel, "T0", "10.00"))
    else:
        record = txn(channel, "T1", "10.00")
    references = [name for name, _table in TXN_REFERENCES]
    chosen = ", ".join("%s" if name == column else name for name in references)
    insert = f"""
        INSERT INTO reconciliation_platformtransaction (txn_no, order_no, channel_txn_no, business_type, batch_no,
            amount, currency, status, created_at, business_date, counterparty_account, counterparty_name,
            received_at, updated_at, origin, {", ".join(references)})
        SELECT 'T2', '', '', business_type, '', amount, currency, status, created_at, business_date, '', '',
            received_at, updated_at, origin, {chosen}
        FROM reconciliation_platformtransaction WHERE id = %s
    """
    _refused(insert, [MISSING, record.pk], says=f"transaction T2 refers to {table} id {MISSING}, which does not exist")
    _refused(
        f"UPDATE reconciliation_platformtransaction SET {column} = %s WHERE id = %s",
        [MISSING, record.pk],
        says=f"transaction T1 refers to {table} id {MISSING}, which does not exist",
    )
    assert not PlatformTransaction.objects.filter(txn_no="T2").exists()


@pytest.mark.django_db
def test_an_update_that_leaves_the_references_alone_is_not_checked_against_them(channel):
    record = txn(channel, "T1", "10.00", status="PROCESSING")
    PlatformTransaction.objects.filter(pk=record.pk).update(status="SUCCESS")
    assert PlatformTransaction.objects.get(pk=record.pk).status == "SUCCESS"


@pytest.mark.django_db
def test_deleting_what_a_record_refers_to_is_refused_even_bypassing_django(channel, make_customer, make_merchant, make_account):
    customer = make_customer()
    merchant, account = make_merchant(customer), make_account(customer)
    line = lines(channel, D, {"amount": "10.00"}).lines.get()
    original = txn(channel, "T1", "10.00", merchant=merchant, account=account, source_line=line)
    txn(channel, "R1", "4.00", business_type="REFUND", original=original)
    for table, row_id in (
        ("reconciliation_channel", channel.pk),
        ("accounts_merchant", merchant.pk),
        ("accounts_account", account.pk),
        ("reconciliation_statementline", line.pk),
        ("reconciliation_platformtransaction", original.pk),
    ):
        # Lines are immutable besides (their own trigger, switched off here to reach this check).
        with pgtrigger.ignore("reconciliation.StatementLine:rows_are_immutable"):
            _refused(f"DELETE FROM {table} WHERE id = %s", [row_id], says=f"{table} id {row_id} is referred to by transaction")
    # The refund and its original deleted together leave nothing referring to nothing.
    _raw("DELETE FROM reconciliation_platformtransaction WHERE channel_id = %s", [channel.pk])
    _raw("DELETE FROM accounts_merchant WHERE id = %s", [merchant.pk])
    assert not PlatformTransaction.objects.filter(channel=channel).exists()


@pytest.mark.django_db(transaction=True)
def test_a_referenced_row_cannot_be_deleted_while_a_writer_referring_to_it_is_open(channel):
    """As with a foreign key: the writer's new reference locks the channel (FOR KEY SHARE), so a delete
    waits for the writer rather than slipping in before it commits."""
    with held_open(lambda: txn(channel, "T1", "10.00")):
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            _raw("SET LOCAL lock_timeout = '300ms'")
            _raw("DELETE FROM reconciliation_channel WHERE id = %s", [channel.pk])
    assert PlatformTransaction.objects.filter(channel=channel).count() == 0  # the writer rolled back
