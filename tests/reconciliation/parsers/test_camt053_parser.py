from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.parsers import camt053
from reconciliation.parsers.base import BatchItem, Direction, FundMovementRow, StatementParseError
from reconciliation.parsers.writers import render, write_camt053


def test_batch_entry_is_one_movement_with_its_items(fixture_bytes):
    statement = camt053.parse(fixture_bytes("camt053_001_08_batch.xml"))
    batch, returned = list(statement.rows)
    assert statement.metadata.variant == "camt.053.001.08"
    assert (batch.direction, batch.amount, batch.batch_ref, batch.bank_ref) == (
        Direction.DEBIT,
        Decimal("300.00"),
        "PAYOUT-BATCH-17",
        "BANK-REF-9001",
    )
    assert batch.booked_at == datetime(2024, 3, 5, 10, 15, tzinfo=timezone(timedelta(hours=1)))
    assert [(i.reference, i.amount, i.counterparty_name) for i in batch.items] == [
        ("PO-17-001", Decimal("120.00"), "Greta Hansen"),
        ("PO-17-002", Decimal("180.00"), "Jonas Weber"),
    ]
    assert (returned.is_reversal, returned.direction, returned.counterparty_name) == (
        True,
        Direction.CREDIT,
        "Closed Account GmbH",
    )
    assert returned.business_ref == "PO-16-004" and returned.items == ()
    assert [w.message for w in statement.warnings] == ["entry with status PDNG skipped: not booked"]
    assert statement.metadata.opening_balance == Decimal("5000.00")
    assert statement.metadata.closing_balance == Decimal("4720.00")
    assert ("Ntry/Amt", "300.00") in camt053.raw_fields(batch.raw)


def _error(data: bytes) -> StatementParseError:
    with pytest.raises(StatementParseError) as caught:
        list(camt053.parse(data).rows)
    return caught.value


def test_balance_and_batch_mismatches(fixture_bytes):
    data = fixture_bytes("camt053_001_08_batch.xml")
    error = _error(data.replace(b"4720.00", b"4721.00"))
    assert error.field == "Bal/CLBD" and "declares 4721.00 EUR" in error.reason
    statement = camt053.parse(data.replace(b"<NbOfTxs>2</NbOfTxs>", b"<NbOfTxs>3</NbOfTxs>"), strict_totals=False)
    assert len(list(statement.rows)) == 2
    assert statement.warnings[0].field == "Btch/NbOfTxs" and statement.warnings[0].line == 1


def test_errors_name_entry_and_field(fixture_bytes):
    data = fixture_bytes("camt053_001_08_batch.xml")
    error = _error(
        data.replace(b'<Amt Ccy="EUR">20.00</Amt>\n        <CdtDbtInd>', b'<Amt Ccy="EUR">2O.00</Amt>\n        <CdtDbtInd>')
    )
    assert (error.line, error.field) == (2, "Ntry/Amt")
    error = _error(data.replace(b"<Dt>2024-03-05</Dt></BookgDt>", b"<Dt>2024-13-05</Dt></BookgDt>", 1))
    assert (error.line, error.field) == (2, "Ntry/BookgDt")
    error = _error(data.replace(b"</Ntry>", b"</Nty>", 1))
    assert error.line is not None and "not well-formed" in error.reason
    assert "root element" in _error(b"<Document/>").reason
    assert "empty file" in _error(b"").reason


def test_entities_and_dtds_are_refused():
    billion_laughs = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&b;</Document>'
    )
    assert "DTD" in _error(billion_laughs).reason
    external = (
        b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "file:///etc/passwd">'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>'
    )
    assert "DTD" in _error(external).reason


names = st.text(alphabet="ABCdef &<>'\"", min_size=1, max_size=20).map(str.strip).filter(bool)
refs = st.text(alphabet="ABC0123456789/-", min_size=1, max_size=20)
money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999.99"), places=2)


@st.composite
def entries(draw):
    booking = draw(st.dates(min_value=date(2024, 3, 1), max_value=date(2024, 3, 5)))
    direction = draw(st.sampled_from(list(Direction)))
    base = FundMovementRow(
        0,
        "DE44500105175407324931",
        booking,
        None,
        draw(st.one_of(st.none(), st.just(booking))),
        direction,
        draw(money),
        None,
        "EUR",
        bank_ref=draw(st.one_of(st.just(""), refs)),
        is_reversal=draw(st.booleans()),
    )
    if draw(st.booleans()):
        items = tuple(
            BatchItem(
                draw(money),
                "EUR",
                draw(refs),
                counterparty_name=draw(names),
                counterparty_account="DE02120300000000202051",
                memo=draw(names),
            )
            for _ in range(draw(st.integers(min_value=2, max_value=4)))
        )
        return base._replace(
            amount=sum((i.amount for i in items), Decimal("0")), items=items, batch_ref=draw(refs), memo=draw(names)
        )
    return base._replace(
        counterparty_name=draw(names), counterparty_account="DE02500105170137075030", memo=draw(names), business_ref=draw(refs)
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(entries(), max_size=6), st.sampled_from(["02", "04", "08", "13"]))
def test_writer_round_trip_per_version(rows, version):
    data = render(
        write_camt053,
        rows,
        account_ref="DE44500105175407324931",
        currency="EUR",
        opening_balance=Decimal("1000.00"),
        period=(date(2024, 3, 1), date(2024, 3, 5)),
        version=version,
    )
    statement = camt053.parse(data)
    parsed = [row._replace(source_line=0, raw="") for row in statement.rows]
    assert parsed == rows
    assert statement.metadata.variant == f"camt.053.001.{version}"
