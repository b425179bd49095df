import io
import zipfile
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.parsers import unionpay
from reconciliation.parsers.base import LineStatus, LineType, StatementLineRow, StatementParseError
from reconciliation.parsers.writers import render, write_unionpay_zip, write_unionpay_zm

SHANGHAI = ZoneInfo("Asia/Shanghai")
FILE_DATE = date(2024, 3, 5)


def _row(
    code: str, line_type: LineType, amount: str, fee: str, query_id: str, order: str, original: str = ""
) -> StatementLineRow:
    at = datetime(2024, 3, 5, 10, 30, 15, tzinfo=SHANGHAI)
    return StatementLineRow(
        0,
        query_id,
        order,
        line_type,
        LineStatus.SUCCESS,
        Decimal(amount),
        Decimal(fee),
        "CNY",
        at,
        None,
        query_id if line_type is LineType.REFUND else "",
        original,
        type_code=code,
    )


ROWS = [
    _row("S22", LineType.COLLECTION, "100.00", "0.38", "202403051030150000001", "UP-0001"),
    _row("S31", LineType.REFUND, "40.00", "-0.15", "202403051730150000002", "UP-0001-R1", "202403051030150000001"),
    _row("V52", LineType.OTHER, "3.00", "0.00", "202403051830150000003", "UP-0002"),
]


def test_zip_with_error_member_and_date_from_its_name():
    data = render(write_unionpay_zip, ROWS, file_date=FILE_DATE, error_lines=["S22 rejected record 0001"])
    statement = unionpay.parse_zm(data)
    rows = list(statement.rows)
    assert statement.metadata.statement_date == FILE_DATE
    assert rows[0].amount == Decimal("100.00") and rows[0].fee == Decimal("0.38")
    assert rows[0].occurred_at == datetime(2024, 3, 5, 10, 30, 15, tzinfo=SHANGHAI)
    assert rows[1].line_type is LineType.REFUND and rows[1].fee == Decimal("-0.15")
    assert rows[1].original_channel_txn_no == "202403051030150000001"
    assert (rows[2].line_type, rows[2].type_code) == (LineType.OTHER, "V52")
    assert [w.message for w in statement.warnings] == [
        "INN24030588ZME_898110148160001: UnionPay error record: S22 rejected record 0001"
    ]
    assert dict(unionpay.raw_fields(rows[0].raw))["交易金额"] == "000000010000"


def test_bare_file_without_date_leaves_times_empty():
    statement = unionpay.parse_zm(render(write_unionpay_zm, ROWS[:1]))
    assert list(statement.rows)[0].occurred_at is None
    assert statement.warnings[0].field == "交易传输时间"


def test_old_single_reserved_block_is_accepted():
    record = render(write_unionpay_zm, ROWS[:1]).rstrip(b"\r\n")
    old = record[: unionpay.ZM_DATA_BYTES] + b" " + b"X" * 131  # one 131-byte reserved block
    assert len(old) == unionpay.ZM_LINE_BYTES
    rows = list(unionpay.parse_zm(old + b"\n", file_date=FILE_DATE).rows)
    assert rows[0].channel_txn_no == "202403051030150000001"


def _error(data: bytes) -> StatementParseError:
    with pytest.raises(StatementParseError) as caught:
        list(unionpay.parse_zm(data, file_date=FILE_DATE).rows)
    return caught.value


def test_errors_name_line_and_field():
    good = render(write_unionpay_zm, ROWS[:2])
    lines = good.split(b"\r\n")
    amount = unionpay.ZM_SLICES["交易金额"]
    bad_amount = lines[1][: amount.start] + b"00000000004x" + lines[1][amount.stop :]
    error = _error(lines[0] + b"\r\n" + bad_amount + b"\r\n")
    assert (error.line, error.field) == (2, "交易金额")
    error = _error(lines[0] + b"\r\n" + lines[1][:-200] + b"\r\n")
    assert error.line == 2 and "bytes" in error.reason
    order = unionpay.ZM_SLICES["商户订单号"]
    # Text written as characters instead of bytes shifts every later field.
    padded_by_characters = "订单".ljust(32).encode("gb18030")  # 34 bytes where 32 belong
    shifted = lines[1][: order.start] + padded_by_characters + lines[1][order.stop :]
    error = _error(lines[0] + b"\r\n" + shifted[:-2] + b"\r\n")
    assert error.line == 2 and error.field is not None and "shifted" in error.reason
    assert "not a UnionPay ZM file" in _error(b"hello\n").reason
    assert "empty file" in _error(b"").reason


serials = st.text(alphabet="0123456789", min_size=1, max_size=21)
fen = st.integers(min_value=1, max_value=10**10).map(lambda n: Decimal(n).scaleb(-2))


@st.composite
def zm_rows(draw):
    line_type = draw(st.sampled_from([LineType.COLLECTION, LineType.REFUND]))
    query_id = draw(serials)
    at = draw(st.datetimes(min_value=datetime(2024, 3, 4), max_value=datetime(2024, 3, 5, 23, 59, 59)))
    fee = draw(st.integers(min_value=-9999, max_value=9999).map(lambda n: Decimal(n).scaleb(-2)))
    return StatementLineRow(
        0,
        query_id,
        draw(st.text(alphabet="ABCXYZ0123456789-", max_size=32)),
        line_type,
        LineStatus.SUCCESS,
        draw(fen),
        fee,
        "CNY",
        at.replace(microsecond=0, tzinfo=SHANGHAI),
        None,
        query_id if line_type is LineType.REFUND else "",
        draw(serials) if line_type is LineType.REFUND else "",
        type_code="S22" if line_type is LineType.COLLECTION else "S31",
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(zm_rows(), max_size=8))
def test_writer_round_trip(rows):
    data = render(write_unionpay_zip, rows, file_date=FILE_DATE)
    assert zipfile.is_zipfile(io.BytesIO(data))
    parsed = [row._replace(source_line=0, raw="") for row in unionpay.parse_zm(data).rows]
    assert parsed == rows
