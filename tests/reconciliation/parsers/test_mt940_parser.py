from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.parsers import mt940
from reconciliation.parsers.base import Direction, FundMovementRow, StatementParseError
from reconciliation.parsers.writers import render, write_mt940


def test_two_statements_with_reversals(fixture_bytes):
    statement = mt940.parse(fixture_bytes("mt940_two_statements.sta"))
    rows = list(statement.rows)
    assert [(r.direction, r.amount, r.is_reversal) for r in rows] == [
        (Direction.CREDIT, Decimal("250.00"), False),
        (Direction.DEBIT, Decimal("40.25"), False),
        (Direction.DEBIT, Decimal("10.00"), True),  # RC: reversal of a credit
        (Direction.CREDIT, Decimal("5.00"), True),  # RD: reversal of a debit
    ]
    first = rows[0]
    assert (first.business_ref, first.bank_ref) == ("INV-1001", "BK-0001")
    assert first.memo == "Payment invoice 1001\nACME Trading Ltd"
    assert first.account_ref == "NL12TEST0123456789" and first.currency == "EUR"
    assert rows[1].business_ref == ""  # NONREF
    assert statement.metadata.opening_balance == Decimal("1000.00")
    assert statement.metadata.closing_balance == Decimal("1204.75")
    assert statement.metadata.period_end == date(2024, 3, 6)
    assert mt940.raw_fields(first.raw)[0] == ("61", "2403050305C250,00NTRFINV-1001//BK-0001")
    assert statement.warnings == []


def _error(data: bytes) -> StatementParseError:
    with pytest.raises(StatementParseError) as caught:
        list(mt940.parse(data).rows)
    return caught.value


def test_control_total_mismatch_strict_and_lenient(fixture_bytes):
    data = fixture_bytes("mt940_two_statements.sta").replace(b":62F:C240305EUR1199,75", b":62F:C240305EUR1199,70")
    error = _error(data)
    assert (error.line, error.field) == (13, ":62F:")
    assert "declares +1199.70 EUR" in error.reason and "give +1199.75" in error.reason
    statement = mt940.parse(data, strict_totals=False)
    assert len(list(statement.rows)) == 4
    assert statement.warnings[0].line == 13


def test_errors_name_line_and_field(fixture_bytes):
    data = fixture_bytes("mt940_two_statements.sta")
    error = _error(data.replace(b"D40,25NMSC", b"D40.25NMSC"))
    assert (error.line, error.field) == (9, ":61:")
    error = _error(data.replace(b":61:2403050305C250", b":61:2413050305C250"))
    assert (error.line, error.field) == (6, ":61: value date")
    error = _error(data.replace(b":60F:C240304EUR1000,00", b":60F:C240304EUR10x0,00"))
    assert (error.line, error.field) == (5, ":60F:")
    error = _error(data.split(b":62F:C240306")[0])
    assert error.field == ":62F:" and "truncated" in error.reason
    assert "no :20: tag" in _error(b"hello\n").reason
    assert "no :20: tag" in _error(b"").reason
    with pytest.raises(StatementParseError) as caught:  # an encoding configured, not detected
        list(mt940.parse(data.replace(b"Bank charges", "Bankgebühr".encode("latin-1")), encoding="utf-8").rows)
    assert caught.value.line == 10 and "utf-8" in caught.value.reason


references = st.text(alphabet="ABCDEFGHIJ0123456789-", min_size=1, max_size=16)
memos = st.text(alphabet="abcdefghij KLMNOP0123456789.", max_size=65).map(str.strip)


@st.composite
def movements(draw):
    booking = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2024, 12, 31)))
    return FundMovementRow(
        0,
        "NL12TEST0123456789",
        booking,
        None,
        booking,
        draw(st.sampled_from(list(Direction))),
        draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999.99"), places=2)),
        None,
        "EUR",
        memo=draw(memos),
        bank_ref=draw(st.one_of(st.just(""), references)),
        is_reversal=draw(st.booleans()),
        business_ref=draw(st.one_of(st.just(""), references)),
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(movements(), max_size=10), st.decimals(min_value=Decimal("-5000"), max_value=Decimal("5000"), places=2))
def test_writer_round_trip(rows, opening):
    data = render(
        write_mt940,
        rows,
        account_ref="NL12TEST0123456789",
        currency="EUR",
        opening_balance=opening,
        opening_date=date(2024, 1, 1),
    )
    statement = mt940.parse(data)
    assert [row._replace(source_line=0, raw="") for row in statement.rows] == rows
    assert statement.metadata.opening_balance == opening
    moved = sum((r.amount if r.direction is Direction.CREDIT else -r.amount for r in rows), Decimal("0"))
    assert statement.metadata.closing_balance == opening + moved
