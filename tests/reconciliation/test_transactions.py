"""Our transaction records: idempotent upsert, forward-only status, conflicts refused and recorded."""

import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from helpers import local_dt

from reconciliation.models import PlatformTransaction, TransactionConflict
from reconciliation.services.intake.transactions import (
    TransactionBatchRefused,
    transaction_input_read,
    transaction_inputs_from_csv,
    transactions_upsert,
)

HEADER = (
    "txn_no,channel,channel_txn_no,business_type,amount,currency,fee,status,created_at,completed_at,"
    "business_date,merchant_no,account_no,batch_no,original_txn_no\n"
)
NOW = local_dt(2026, 11, 25, 9, 0)


def record(**overrides) -> dict:
    base = {
        "txn_no": "P1",
        "channel": "TESTCH",
        "channel_txn_no": "",
        "business_type": "collection",
        "amount": "100.00",
        "currency": "CNY",
        "fee": "",
        "status": "processing",
        "created_at": "2026-11-24 10:00:00",
        "completed_at": "",
        "business_date": "2026-11-24",
    }
    return {**base, **overrides}


def upsert(*records, source="API"):
    inputs = []
    for index, mapping in enumerate(records, 1):
        item, errors = transaction_input_read(mapping, ref=f"item {index}")
        assert errors == [], errors
        inputs.append(item)
    return transactions_upsert(inputs=inputs, source=source, now=NOW)


@pytest.mark.django_db
def test_same_record_twice_changes_nothing(channel):
    first = upsert(record())
    again = upsert(record())
    assert (first.created, again.created, again.unchanged) == (1, 0, 1)
    txn = PlatformTransaction.objects.get()
    assert txn.amount == Decimal("100.00") and txn.status == "PROCESSING"
    assert txn.created_at == local_dt(2026, 11, 24, 10, 0)


@pytest.mark.django_db
def test_status_moves_forward_and_facts_fill_in_once(channel):
    upsert(record(status="unknown"))
    result = upsert(record(status="success", channel_txn_no="42001", fee="0.60", completed_at="2026-11-24 10:00:05"))
    assert result.updated == 1
    txn = PlatformTransaction.objects.get()
    assert (txn.status, txn.channel_txn_no, txn.fee) == ("SUCCESS", "42001", Decimal("0.60"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, field",
    [
        ({"status": "failed"}, "status"),  # success -> failed
        ({"amount": "100.01"}, "amount"),  # a changed amount
        ({"channel_txn_no": "OTHER"}, "channel_txn_no"),
    ],
)
def test_conflicting_change_is_refused_recorded_and_nothing_written(channel, change, field):
    upsert(record(status="success", channel_txn_no="42001"))
    with pytest.raises(TransactionBatchRefused) as excinfo:
        upsert(record(**{"status": "success", "channel_txn_no": "42001", **change}), record(txn_no="P2"))
    assert excinfo.value.errors[0].field == field
    conflict = TransactionConflict.objects.get()
    assert (conflict.txn_no, conflict.field) == ("P1", field)
    assert not PlatformTransaction.objects.filter(txn_no="P2").exists()  # the good record was not written either
    txn = PlatformTransaction.objects.get(txn_no="P1")
    assert txn.status == "SUCCESS" and txn.amount == Decimal("100.00")


@pytest.mark.django_db
def test_refund_links_to_its_original_even_in_the_same_batch(channel):
    upsert(
        record(txn_no="R1", business_type="refund", original_txn_no="P1", amount="30.00", status="success"),
        record(status="success"),
    )
    refund = PlatformTransaction.objects.get(txn_no="R1")
    assert refund.original.txn_no == "P1"


def test_record_validation_names_every_bad_field():
    _item, errors = transaction_input_read(
        record(amount="12.3x", currency="XYZ", status="timeout", business_type="refund", created_at="yesterday"),
        ref="line 3",
    )
    fields = {e.field for e in errors}
    assert fields == {"amount", "currency", "status", "created_at", "original_txn_no"}
    assert str(next(e for e in errors if e.field == "amount")) == "line 3, field amount: '12.3x' is not an amount"


def test_binary_floats_are_refused():
    _item, errors = transaction_input_read(record(amount=100.1), ref="item 1")
    assert errors[0].field == "amount" and "float" in errors[0].reason


def test_journal_columns_are_matched_by_name_and_extra_columns_ignored():
    text = (
        "note,business_date,amount,txn_no,channel,business_type,currency,status,created_at\n"
        "x,2026-11-24,5.00,P9,TESTCH,payout,CNY,unknown,2026-11-24 23:59:59\n"
    )
    (item,), errors = transaction_inputs_from_csv(text.encode())
    assert errors == []
    assert (item.txn_no, item.amount, item.business_type, item.status) == ("P9", Decimal("5.00"), "PAYOUT", "UNKNOWN")


def test_journal_missing_column_is_named():
    with pytest.raises(TransactionBatchRefused) as excinfo:
        transaction_inputs_from_csv(b"txn_no,channel\nP1,TESTCH\n")
    assert {e.field for e in excinfo.value.errors} >= {"amount", "status", "business_date"}


@pytest.mark.django_db
def test_import_transactions_command(channel, tmp_path, capsys):
    path = tmp_path / "journal.csv"
    path.write_text(
        HEADER + "P1,TESTCH,4200,collection,88.00,CNY,0.53,success,2026-11-24 10:00:00,2026-11-24 10:00:03,2026-11-24,,,,\n",
        encoding="utf-8",
    )
    call_command("import_transactions", str(path), "--json")
    assert json.loads(capsys.readouterr().out) == {"status": "IMPORTED", "created": 1, "updated": 0, "unchanged": 0, "held": 0}

    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "P2,TESTCH,,collection,abc,CNY,,success,2026-11-24 10:00:00,,2026-11-24,,,,\n"
        "P3,NOPE,,collection,1.00,CNY,,success,2026-11-24 10:00:00,,2026-11-24,,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match="2 record"):
        call_command("import_transactions", str(bad), "--json")
    out = json.loads(capsys.readouterr().out)
    assert [(e["ref"], e["field"]) for e in out["errors"]] == [("line 2", "amount"), ("line 3", "channel")]
    assert PlatformTransaction.objects.count() == 1


@pytest.mark.django_db
def test_every_delivery_is_on_record_and_names_what_it_created(channel, tmp_path, make_staff):
    from django.db import DatabaseError, transaction
    from rest_framework.test import APIClient

    from reconciliation.models import PlatformTransaction, TransactionReceipt

    core = make_staff("payment_core")
    api = APIClient()
    api.force_authenticate(core)
    item = {
        "txn_no": "R1",
        "channel": "TESTCH",
        "business_type": "collection",
        "amount": "10.00",
        "currency": "CNY",
        "status": "processing",
        "created_at": "2026-11-24T10:00:00+08:00",
        "business_date": "2026-11-24",
    }
    assert api.post("/api/transactions/bulk/", {"transactions": [item]}, format="json").status_code == 200
    assert (
        api.post("/api/transactions/bulk/", {"transactions": [{**item, "status": "success"}]}, format="json").status_code == 200
    )
    path = tmp_path / "journal.csv"
    path.write_text(HEADER + "R2,TESTCH,,collection,5.00,CNY,,success,2026-11-24 10:00:00,,2026-11-24,,,,\n", encoding="utf-8")
    call_command("import_transactions", str(path))

    first, second, from_file = TransactionReceipt.objects.order_by("pk")
    assert (first.source, first.received_by, first.created, first.updated) == ("API", core, 1, 0)
    assert (second.created, second.updated) == (0, 1)
    assert (from_file.source, from_file.source_ref, from_file.received_by, from_file.created) == ("FILE", "journal.csv", None, 1)
    assert PlatformTransaction.objects.get(txn_no="R1").receipt == first  # the delivery that created it, not the later one
    assert PlatformTransaction.objects.get(txn_no="R2").receipt == from_file
    with pytest.raises(DatabaseError), transaction.atomic():
        TransactionReceipt.objects.filter(pk=first.pk).update(created=0)
    with pytest.raises(DatabaseError), transaction.atomic():
        TransactionReceipt.objects.filter(pk=first.pk).delete()


@pytest.mark.django_db
def test_a_journal_the_database_could_not_keep_is_refused_naming_each_field(channel):
    long_no = "P" * 70
    text = (
        HEADER
        + f"{long_no},TESTCH,,collection,10.00,CNY,,success,2026-11-24 10:00:00,,2026-11-24,,,,\n"
        + "P2,TESTCH,,collection,1234567890123456.00,CNY,0.123456,success,2026-11-24 10:00:00,,2026-11-24,,,,\n"
        + "P3,TESTCH,,collection,100.10000,CNY,,success,2026-11-24 10:00:00,,2026-11-24,,,B\x001,\n"
    )
    inputs, invalid = transaction_inputs_from_csv(text.encode())
    refused = {(e.txn_no, e.field) for e in invalid}
    assert {(long_no, "txn_no"), ("P2", "amount"), ("P2", "fee"), ("P3", "batch_no")} <= refused
    assert not any(e.field == "amount" and e.txn_no == "P3" for e in invalid)  # 100.10000 is 100.1: kept
    reasons = {e.field: e.reason for e in invalid}
    assert "at most 64" in reasons["txn_no"] and "at most 15" in reasons["amount"] and "at most 4" in reasons["fee"]
