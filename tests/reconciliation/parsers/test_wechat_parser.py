from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.parsers import wechat
from reconciliation.parsers.base import (
    Direction,
    FundMovementRow,
    LineStatus,
    LineType,
    StatementLineRow,
    StatementParseError,
)
from reconciliation.parsers.writers import render, write_wechat_fund, write_wechat_trade

SHANGHAI = ZoneInfo("Asia/Shanghai")


def rows_of(data: bytes, **options):
    statement = wechat.parse_trade(data, **options)
    return statement, list(statement.rows)


def test_all_bill_rows_payments_and_refund(fixture_bytes):
    statement, rows = rows_of(fixture_bytes("wechat_trade_all.csv"))
    first, _second, refund = rows
    assert first.source_line == 2
    assert (first.channel_txn_no, first.txn_no) == ("4200002024030511110001", "PO-20240305-0001")
    assert (first.line_type, first.status) == (LineType.COLLECTION, LineStatus.SUCCESS)
    assert first.amount == Decimal("128.50") and first.fee == Decimal("0.77000")
    assert first.fee_rate == Decimal("0.0060")
    assert first.occurred_at == datetime(2024, 3, 5, 9, 12, 30, tzinfo=SHANGHAI)
    assert first.raw.startswith("`2024-03-05 09:12:30,`wx5f2a61c0d93e7b18")
    assert refund.line_type is LineType.REFUND
    assert (refund.channel_txn_no, refund.txn_no, refund.refund_no) == (
        "50300002024030500000009",
        "RF-20240305-0001",
        "50300002024030500000009",
    )
    assert (refund.original_channel_txn_no, refund.original_txn_no) == ("4200002024030511110001", "PO-20240305-0001")
    assert refund.amount == Decimal("28.50") and refund.fee == Decimal("-0.17")
    assert statement.totals.count == 3
    assert statement.totals.amount_by_type[LineType.COLLECTION] == Decimal("173.50")
    assert statement.totals.fee == Decimal("0.87")
    assert statement.warnings == []
    assert statement.metadata.variant == "ALL"
    assert statement.metadata.statement_date.isoformat() == "2024-03-05"
    assert dict(wechat.raw_fields(first.raw, statement.metadata.raw_columns))["应结订单金额"] == "128.50"


def test_legacy_layout_with_full_width_colons(fixture_bytes):
    statement, rows = rows_of(fixture_bytes("wechat_trade_legacy.csv"))
    assert statement.metadata.variant == "ALL_LEGACY"
    assert rows[0].amount == Decimal("19.90")
    assert rows[0].occurred_at == datetime(2016, 8, 2, 10, 5, 9, tzinfo=SHANGHAI)
    assert statement.totals.amount_by_type[LineType.COLLECTION] == Decimal("27.00")


def _edit(data: bytes, old: str, new: str) -> bytes:
    text = data.decode("utf-8")
    assert old in text
    return text.replace(old, new, 1).encode("utf-8")


def _error(data: bytes, **options) -> StatementParseError:
    with pytest.raises(StatementParseError) as caught:
        rows_of(data, **options)
    return caught.value


def test_bad_amount_names_line_and_field(fixture_bytes):
    error = _error(_edit(fixture_bytes("wechat_trade_all.csv"), "`45.00", "`45,0x"))
    assert (error.line, error.field) == (3, "应结订单金额")
    assert str(error) == "line 3, field 应结订单金额: '45,0x' is not an amount"


def test_bad_time_names_line_and_field(fixture_bytes):
    error = _error(_edit(fixture_bytes("wechat_trade_all.csv"), "2024-03-05 14:03:11", "2024-03-05 25:03:11"))
    assert (error.line, error.field) == (3, "交易时间")


def test_gbk_bytes_are_an_encoding_error_on_their_line(fixture_bytes):
    text = fixture_bytes("wechat_trade_all.csv").decode("utf-8")
    lines = text.split("\r\n")
    data = "\r\n".join(lines[:2]).encode("utf-8") + b"\r\n" + lines[2].encode("gb18030") + b"\r\n"
    error = _error(data)
    assert error.line == 3
    assert error.field == "商品名称"
    assert "not valid utf-8" in error.reason


def test_missing_required_column_is_named(fixture_bytes):
    error = _error(_edit(fixture_bytes("wechat_trade_all.csv"), "手续费,", "服务费,"))
    assert (error.line, error.field) == (1, "手续费")


def test_row_of_wrong_length(fixture_bytes):
    error = _error(_edit(fixture_bytes("wechat_trade_all.csv"), ",`咖啡豆,", ","))
    assert error.line == 3
    assert "fields" in error.reason


def test_not_a_wechat_bill_and_empty_file(fixture_bytes):
    error = _error(fixture_bytes("alipay_trade.csv"))
    assert error.line == 1
    error = _error(b"a,b\n1,2\n")
    assert str(error).startswith("line 1: not a WeChat Pay trade bill: header row with 交易时间,")
    assert "empty file" in _error(b"").reason


def test_summary_mismatch_strict_and_lenient(fixture_bytes):
    data = _edit(fixture_bytes("wechat_trade_all.csv"), "`3,`173.50", "`4,`173.50")
    error = _error(data)
    assert (error.line, error.field) == (6, "总交易单数")
    assert error.reason == "summary 总交易单数 declares 4, parsed rows give 3"
    statement, rows = rows_of(data, strict_totals=False)
    assert len(rows) == 3
    assert [str(w) for w in statement.warnings] == ["line 6, field 总交易单数: summary 总交易单数 declares 4, parsed rows give 3"]


def test_truncated_file_without_summary(fixture_bytes):
    text = fixture_bytes("wechat_trade_all.csv").decode("utf-8")
    data = "\r\n".join(text.split("\r\n")[:4]).encode("utf-8")
    assert "summary" in _error(data).reason
    statement, rows = rows_of(data, strict_totals=False)
    assert len(rows) == 3 and "missing" in statement.warnings[0].message


def test_a_quoted_value_with_a_comma_is_read():
    rows = [_payment("Q1", Decimal("3.00"))]
    data = render(write_wechat_trade, rows).replace(b"`JSAPI", b'"`JS,API"')
    _statement, parsed = rows_of(data)
    assert parsed[0].amount == Decimal("3.00")


def _payment(serial: str, amount: Decimal) -> StatementLineRow:
    at = datetime(2024, 3, 5, 8, 0, tzinfo=SHANGHAI)
    return StatementLineRow(
        0, serial, "T" + serial, LineType.COLLECTION, LineStatus.SUCCESS, amount, Decimal("0.01"), "CNY", at, at
    )


serials = st.text(alphabet="0123456789ABCDEFGHJK", min_size=1, max_size=28)
money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999.99"), places=2)
fees = st.decimals(min_value=Decimal("-99.99999"), max_value=Decimal("99.99999"), places=5)
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda value: value.replace(microsecond=0, tzinfo=SHANGHAI)
)


@st.composite
def trade_rows(draw):
    at = draw(moments)
    rate = draw(st.sampled_from([None, Decimal("0.0060"), Decimal("0.0038")]))
    if draw(st.booleans()):
        return StatementLineRow(
            0,
            draw(serials),
            draw(serials),
            LineType.COLLECTION,
            LineStatus.SUCCESS,
            draw(money),
            draw(fees),
            "CNY",
            at,
            at,
            fee_rate=rate,
            type_code="SUCCESS",
        )
    refund_no = draw(serials)
    status = draw(st.sampled_from([LineStatus.SUCCESS, LineStatus.PROCESSING, LineStatus.FAILED]))
    return StatementLineRow(
        0,
        refund_no,
        draw(serials),
        LineType.REFUND,
        status,
        draw(money),
        draw(fees),
        "CNY",
        at,
        at if status is LineStatus.SUCCESS else None,
        refund_no,
        draw(serials),
        draw(serials),
        fee_rate=rate,
        type_code="REFUND",
    )


def _comparable(row):
    return row._replace(source_line=0, raw="")


@settings(max_examples=40, deadline=None)
@given(st.lists(trade_rows(), max_size=12))
def test_trade_writer_round_trip(rows):
    statement, parsed = rows_of(render(write_wechat_trade, rows))
    assert [_comparable(row) for row in parsed] == rows
    assert all(type(row.amount) is Decimal and type(row.fee) is Decimal for row in parsed)
    assert statement.warnings == []


@st.composite
def fund_rows(draw):
    at = draw(moments)
    return FundMovementRow(
        0,
        "",
        at.date(),
        at,
        None,
        draw(st.sampled_from(list(Direction))),
        draw(money),
        draw(st.one_of(st.none(), money)),
        "CNY",
        memo=draw(st.sampled_from(["交易", "退款", "提现"])),
        bank_ref=draw(serials),
        business_ref=draw(serials),
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(fund_rows(), max_size=12))
def test_fund_writer_round_trip(rows):
    statement = wechat.parse_fund(render(write_wechat_fund, rows))
    assert [_comparable(row) for row in statement.rows] == rows
    assert statement.totals.count == len(rows)


def test_fund_bill_summary_mismatch():
    at = datetime(2024, 3, 5, 9, 0, tzinfo=SHANGHAI)
    rows = [FundMovementRow(0, "", at.date(), at, None, Direction.CREDIT, Decimal("10.00"), Decimal("10.00"), "CNY", memo="交易")]
    data = render(write_wechat_fund, rows).replace(b"`1,`1,`10.00", b"`1,`1,`11.00")
    statement = wechat.parse_fund(data, strict_totals=False)
    list(statement.rows)
    assert statement.warnings[0].field == "收入金额"
    assert "declares 11.00" in statement.warnings[0].message
    with pytest.raises(StatementParseError):
        list(wechat.parse_fund(data).rows)
