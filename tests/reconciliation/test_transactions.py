"""Our transaction records: idempotent upsert, forward-only status, conflicts refused and recorded."""

import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from helpers import local_dt

from accounts.models import Customer
from reconciliation.models import PlatformTransaction, TransactionConflict
from reconciliation.services.intake.transactions import (
    TransactionBatchRefused,
    transactions_import_file,
    transactions_receive,
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
    return transactions_receive(records=records, source=source, now=NOW)


def refused(*records) -> list:
    with pytest.raises(TransactionBatchRefused) as excinfo:
        upsert(*records)
    return excinfo.value.errors


def import_file(tmp_path, text: str, name="journal.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return transactions_import_file(path=path, source="FILE", source_ref=name, now=NOW)


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
def test_what_a_held_record_refers_to_is_compared_by_its_code(channel, make_channel, make_customer, make_merchant):
    """A record sent again is compared with ours by the codes of its channel, merchant and original: the same
    codes change nothing, another one is a conflict naming both."""
    merchant, other = (make_merchant(make_customer(Customer.Kind.ENTERPRISE)) for _ in range(2))
    make_channel("OTHERCH")
    held = [
        record(txn_no="P0", status="success", merchant_no=merchant.merchant_no),
        record(txn_no="R1", business_type="refund", original_txn_no="P0", status="success"),
        record(txn_no="P9", status="success"),
    ]
    upsert(*held)
    assert upsert(*held).as_dict() == {"created": 0, "updated": 0, "unchanged": 3, "held": 0}
    for change, field, current, incoming in [
        ({"txn_no": "P0", "merchant_no": other.merchant_no}, "merchant", merchant.merchant_no, other.merchant_no),
        ({"txn_no": "P0", "merchant_no": merchant.merchant_no, "channel": "OTHERCH"}, "channel", "TESTCH", "OTHERCH"),
        ({"txn_no": "R1", "business_type": "refund", "original_txn_no": "P9"}, "original", "P0", "P9"),
    ]:
        with pytest.raises(TransactionBatchRefused):
            upsert(record(status="success", **change))
        conflict = TransactionConflict.objects.get(field=field)
        assert (conflict.txn_no, conflict.current_value, conflict.incoming_value) == (change["txn_no"], current, incoming)


@pytest.mark.django_db
def test_refund_links_to_its_original_even_in_the_same_batch(channel):
    upsert(
        record(txn_no="R1", business_type="refund", original_txn_no="P1", amount="30.00", status="success"),
        record(status="success"),
    )
    refund = PlatformTransaction.objects.get(txn_no="R1")
    assert refund.original.txn_no == "P1"


@pytest.mark.django_db
def test_record_validation_names_every_bad_field(channel):
    errors = refused(record(amount="12.3x", currency="XYZ", status="timeout", business_type="refund", created_at="yesterday"))
    fields = {e.field for e in errors}
    assert fields == {"amount", "currency", "status", "created_at", "original_txn_no"}
    assert str(next(e for e in errors if e.field == "amount")) == "item 1, field amount: '12.3x' is not an amount"
    assert not PlatformTransaction.objects.exists()


@pytest.mark.django_db
def test_binary_floats_are_refused(channel):
    (error,) = refused(record(amount=100.1))
    assert error.field == "amount" and "float" in error.reason


@pytest.mark.django_db
def test_journal_columns_are_matched_by_name_and_extra_columns_ignored(channel, tmp_path):
    text = (
        "note,business_date,amount,txn_no,channel,business_type,currency,status,created_at\n"
        "x,2026-11-24,5.00,P9,TESTCH,payout,CNY,unknown,2026-11-24 23:59:59\n"
    )
    assert import_file(tmp_path, text).created == 1
    txn = PlatformTransaction.objects.get()
    assert (txn.txn_no, txn.amount, txn.business_type, txn.status) == ("P9", Decimal("5.00"), "PAYOUT", "UNKNOWN")


@pytest.mark.django_db
def test_journal_missing_column_is_named(channel, tmp_path):
    with pytest.raises(TransactionBatchRefused) as excinfo:
        import_file(tmp_path, "txn_no,channel\nP1,TESTCH\n")
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
def test_a_journal_the_database_could_not_keep_is_refused_naming_each_field(channel, tmp_path):
    long_no = "P" * 70
    text = (
        HEADER
        + f"{long_no},TESTCH,,collection,10.00,CNY,,success,2026-11-24 10:00:00,,2026-11-24,,,,\n"
        + "P2,TESTCH,,collection,1234567890123456.00,CNY,0.123456,success,2026-11-24 10:00:00,,2026-11-24,,,,\n"
        + "P3,TESTCH,,collection,100.10000,CNY,,success,2026-11-24 10:00:00,,2026-11-24,,,B\x001,\n"
    )
    with pytest.raises(TransactionBatchRefused) as excinfo:
        import_file(tmp_path, text)
    invalid = excinfo.value.errors
    problems = {(e.txn_no, e.field) for e in invalid}
    assert {(long_no, "txn_no"), ("P2", "amount"), ("P2", "fee"), ("P3", "batch_no")} <= problems
    assert not any(e.field == "amount" and e.txn_no == "P3" for e in invalid)  # 100.10000 is 100.1: kept
    assert [e.ref for e in invalid if e.txn_no == "P3"] == ["line 4"]
    reasons = {e.field: e.reason for e in invalid}
    assert "at most 64" in reasons["txn_no"] and "at most 15" in reasons["amount"] and "at most 4" in reasons["fee"]


# --- the journal file as payment cores write it ----------------------------------------------------------

ROW = "{no},TESTCH,,collection,{amount},CNY,,success,{at},,2026-11-24,,,,\n"


def row(no, amount="10.00", at="2026-11-24 10:00:00") -> str:
    return ROW.format(no=no, amount=amount, at=at)


@pytest.mark.django_db
def test_a_journal_with_bom_crlf_and_blank_lines_at_the_end_is_read(channel, tmp_path):
    text = "\ufeff" + (HEADER + row("P1") + row("P2")).replace("\n", "\r\n") + "\r\n\r\n"
    assert import_file(tmp_path, text).created == 2
    assert set(PlatformTransaction.objects.values_list("txn_no", flat=True)) == {"P1", "P2"}


@pytest.mark.django_db
def test_a_blank_line_inside_and_a_value_spanning_lines_keep_true_line_numbers(channel, tmp_path):
    spanning = 'P2,TESTCH,,collection,5.00,CNY,,success,2026-11-24 10:00:00,,2026-11-24,,,"B\n7",\n'
    text = HEADER + row("P1") + "\n" + spanning + row("P3", amount="abc")
    with pytest.raises(TransactionBatchRefused) as excinfo:
        import_file(tmp_path, text)
    # line 1 header, 2 P1, 3 blank, 4-5 P2 (its batch number spans two lines), 6 P3
    assert [(e.ref, e.field) for e in excinfo.value.errors] == [("line 6", "amount")]
    assert import_file(tmp_path, HEADER + row("P1") + "\n" + spanning).created == 2
    assert PlatformTransaction.objects.get(txn_no="P2").batch_no == "B\n7"


@pytest.mark.django_db
def test_a_line_with_too_many_values_or_not_utf8_is_named(channel, tmp_path):
    with pytest.raises(TransactionBatchRefused) as excinfo:
        import_file(tmp_path, HEADER + row("P1") + row("P2").replace("\n", ",extra\n"))
    assert [(e.ref, e.reason) for e in excinfo.value.errors] == [("line 3", "16 values for 15 columns")]
    with pytest.raises(TransactionBatchRefused) as excinfo:
        import_file(tmp_path, (HEADER + row("P1")).encode() + row("P2").replace("P2", "支付").encode("gbk"))
    assert [(e.ref, e.reason) for e in excinfo.value.errors] == [("line 3", "the file is not UTF-8 text")]
    assert not PlatformTransaction.objects.exists()


@pytest.mark.django_db
def test_a_header_naming_a_column_twice_is_refused(channel, tmp_path):
    with pytest.raises(TransactionBatchRefused) as excinfo:
        import_file(tmp_path, HEADER.replace("batch_no", "amount") + row("P1"))
    assert [(e.ref, e.field) for e in excinfo.value.errors] == [("line 1", "amount")]


@pytest.mark.django_db
def test_a_record_sent_twice_counts_once_and_a_changed_repeat_is_refused(channel, tmp_path):
    assert import_file(tmp_path, HEADER + row("P1") + row("P2") + row("P1")).created == 2
    with pytest.raises(TransactionBatchRefused) as excinfo:
        import_file(tmp_path, HEADER + row("P7") + row("P8") + row("P7", amount="11.00"))
    (error,) = excinfo.value.errors
    assert (error.ref, error.field, error.reason) == ("line 4", "txn_no", "appears again with other values (first at line 2)")


@pytest.mark.django_db
def test_refunds_name_originals_anywhere_in_the_same_file(channel, tmp_path):
    refund = "R{n},TESTCH,,refund,1.00,CNY,,success,2026-11-24 11:00:00,,2026-11-24,,,,{original}\n"
    text = HEADER + refund.format(n=1, original="P1") + row("P1") + refund.format(n=2, original="R1")
    assert import_file(tmp_path, text).created == 3
    refunds = {t.txn_no: t.original.txn_no for t in PlatformTransaction.objects.filter(business_type="REFUND")}
    assert refunds == {"R1": "P1", "R2": "R1"}


@pytest.mark.django_db
def test_a_refund_names_the_original_created_when_that_original_comes_twice_in_the_file(channel, tmp_path):
    refund = "R1,TESTCH,,refund,1.00,CNY,,success,2026-11-24 11:00:00,,2026-11-24,,,,P1\n"
    assert import_file(tmp_path, HEADER + refund + row("P1") + row("P2") + row("P1")).created == 3
    (original,) = PlatformTransaction.objects.filter(txn_no="P1")
    assert PlatformTransaction.objects.get(txn_no="R1").original == original


@pytest.mark.django_db
def test_the_same_journal_again_changes_nothing_and_a_later_one_moves_records_on(channel, tmp_path):
    first = HEADER + row("P1") + ROW.format(no="P2", amount="3.00", at="2026-11-24 10:00:00").replace("success", "processing")
    assert import_file(tmp_path, first).created == 2
    again = import_file(tmp_path, first)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    later = import_file(tmp_path, HEADER + row("P2", amount="3.00"))
    assert (later.updated, PlatformTransaction.objects.get(txn_no="P2").status) == (1, "SUCCESS")
    with pytest.raises(TransactionBatchRefused) as excinfo:
        import_file(tmp_path, HEADER + row("P2", amount="3.00").replace("success", "failed") + row("P9"))
    assert excinfo.value.conflicts == 1 and excinfo.value.errors[0].reason == "cannot move from SUCCESS to FAILED"
    assert TransactionConflict.objects.get().source_ref == "journal.csv line 2"
    assert not PlatformTransaction.objects.filter(txn_no="P9").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "written, stored",
    [
        ("2026-11-24T10:00:00+08:00", local_dt(2026, 11, 24, 10, 0)),
        ("2026-11-24 02:00:00Z", local_dt(2026, 11, 24, 10, 0)),
        ("2026-11-24 11:00:00+0900", local_dt(2026, 11, 24, 10, 0)),
        ("2026-11-24 10:00", local_dt(2026, 11, 24, 10, 0)),
        ("2026-11-24", local_dt(2026, 11, 24, 0, 0)),
        (" 2026-11-24 10:00:00.250000 ", local_dt(2026, 11, 24, 10, 0).replace(microsecond=250000)),
        ('"2026-11-24 10:00:00,5"', local_dt(2026, 11, 24, 10, 0).replace(microsecond=500000)),
    ],
)
def test_times_are_read_as_written_and_without_an_offset_in_the_products_zone(channel, tmp_path, written, stored):
    import_file(tmp_path, HEADER + row("P1", at=written))
    assert PlatformTransaction.objects.get().created_at == stored


@pytest.mark.django_db
def test_one_time_or_date_written_with_different_padding_is_read_the_same_on_every_line(channel, tmp_path):
    """Dates and times are looked up by the value as written: each padding (spaces, a no-break or an ideographic
    space) of the same time or date is its own entry, and all of them read as the value they pad."""
    text = HEADER + row("P1") + row("P2", at="\u30002026-11-24 10:00:00\u00a0") + row("P3", at=" 2026-11-24 10:00:00")
    text += ROW.format(no="P4", amount="1.00", at="2026-11-24 10:00:00").replace(",2026-11-24,", ",\u30002026-11-24 ,")
    assert import_file(tmp_path, text).created == 4
    assert set(PlatformTransaction.objects.values_list("created_at", "business_date")) == {
        (local_dt(2026, 11, 24, 10, 0), date(2026, 11, 24))
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "written", ["2026-02-30 10:00:00", "2026-11-24 24:00:00", "24/11/2026 10:00", "yesterday", "1899-12-31 10:00:00"]
)
def test_impossible_or_unknown_times_are_refused(channel, tmp_path, written):
    with pytest.raises(TransactionBatchRefused) as excinfo:
        import_file(tmp_path, HEADER + row("P1", at=written))
    (error,) = excinfo.value.errors
    assert (error.ref, error.field) == ("line 2", "created_at") and "is not a date and time" in error.reason


@pytest.mark.django_db
@pytest.mark.parametrize(
    "written, stored", [("+5", "5"), (".5", "0.5"), ("5.", "5"), (" 12.30 ", "12.3"), ("100.10000", "100.1")]
)
def test_amounts_as_written(channel, tmp_path, written, stored):
    import_file(tmp_path, HEADER + row("P1", amount=written))
    assert PlatformTransaction.objects.get().amount == Decimal(stored)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "written, reason",
    [
        ("1e5", "'1e5' is not an amount"),
        ('"1,000.00"', "'1,000.00' is not an amount"),
        ("5-", "'5-' is not an amount"),
        ("-", "'-' is not an amount"),
        ("0.00", "must be positive (the business type carries the direction)"),
        ("-1", "must be positive (the business type carries the direction)"),
        ("1.00001", "has 5 decimal places; at most 4"),
    ],
)
def test_amounts_that_are_not_money_are_refused(channel, tmp_path, written, reason):
    with pytest.raises(TransactionBatchRefused) as excinfo:
        import_file(tmp_path, HEADER + row("P1", amount=written))
    assert [(e.field, e.reason) for e in excinfo.value.errors] == [("amount", reason)]


@pytest.mark.django_db
def test_a_refusal_lists_the_first_problems_and_counts_them_all(channel, tmp_path, monkeypatch):
    from reconciliation.services.intake import transactions

    monkeypatch.setattr(transactions, "ERRORS_SHOWN", 3)
    text = HEADER + "".join(row(f"P{n}", amount="x") for n in range(5))
    with pytest.raises(TransactionBatchRefused) as excinfo:
        import_file(tmp_path, text)
    assert [e.ref for e in excinfo.value.errors] == ["line 2", "line 3", "line 4"]
    assert excinfo.value.total == 5 and str(excinfo.value).startswith("5 record(s) refused")


@pytest.mark.django_db
def test_a_channel_serial_already_on_another_transaction_is_refused_by_line(channel, tmp_path):
    serial = "P{n},TESTCH,4200,collection,1.00,CNY,,success,2026-11-24 10:00:00,,2026-11-24,,,,\n"
    import_file(tmp_path, HEADER + serial.format(n=1))
    with pytest.raises(TransactionBatchRefused) as excinfo:
        import_file(tmp_path, HEADER + row("P5") + serial.format(n=2))
    (error,) = excinfo.value.errors
    assert (error.ref, error.field, error.reason) == (
        "line 3",
        "channel_txn_no",
        "channel serial 4200 is already on transaction P1",
    )
    assert PlatformTransaction.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_deliveries_at_the_same_time_of_overlapping_records_each_apply_once(channel):
    """Two payment-core calls at once sharing records (a retry racing its original): each is applied whole,
    one after the other (deliveries take one lock), never an error for a record the other just created."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    first = [record(txn_no=f"P{n}", status="processing") for n in range(300)]
    second = [record(txn_no=f"P{n}", status="success") for n in range(150, 450)]

    def deliver(records):
        try:
            return transactions_receive(records=records, source="API", now=NOW)
        except TransactionBatchRefused as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        in_first, in_second = pool.map(deliver, [first, second])
    # The success batch always applies; the processing batch applies whole if it came first, else it is
    # refused whole (success never moves back to processing) with each refused move on record.
    assert not isinstance(in_second, Exception)
    overlap = PlatformTransaction.objects.filter(txn_no__in=[f"P{n}" for n in range(150, 300)])
    assert set(overlap.values_list("status", flat=True)) == {"SUCCESS"}
    if isinstance(in_first, TransactionBatchRefused):
        assert PlatformTransaction.objects.count() == 300 and in_second.created == 300
        assert in_first.conflicts == 150 and {e.reason for e in in_first.errors} == {"cannot move from SUCCESS to PROCESSING"}
    else:
        assert PlatformTransaction.objects.count() == 450
        assert (in_first.created, in_second.created, in_second.updated) == (300, 150, 150)
