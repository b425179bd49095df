import io
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.parsers import alipay
from reconciliation.parsers.base import Direction, FundMovementRow, LineStatus, LineType, StatementLineRow, StatementParseError
from reconciliation.parsers.writers import render, write_alipay_account, write_alipay_trade

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _edit(data: bytes, old: str, new: str) -> bytes:
    text = data.decode("gb18030")
    assert old in text
    return text.replace(old, new, 1).encode("gb18030")


def _error(parse, data: bytes) -> StatementParseError:
    with pytest.raises(StatementParseError) as caught:
        list(parse(data).rows)
    return caught.value


def test_trade_bill_rows(fixture_bytes):
    statement = alipay.parse_trade(fixture_bytes("alipay_trade.csv"))
    payment, refund = list(statement.rows)
    assert statement.metadata.account_ref == "20885512340000990156"
    assert statement.metadata.period_start == statement.metadata.period_end == date(2024, 3, 5)
    assert (payment.channel_txn_no, payment.txn_no, payment.line_type) == (
        "2024030522001400001234567890",
        "AP-20240305-0007",
        LineType.COLLECTION,
    )
    assert payment.amount == Decimal("66.00") and payment.fee == Decimal("0.40")  # 服务费 -0.40 = charged
    assert payment.completed_at == datetime(2024, 3, 5, 11, 20, 52, tzinfo=SHANGHAI)
    assert refund.line_type is LineType.REFUND and refund.amount == Decimal("16.00")
    assert (refund.txn_no, refund.refund_no, refund.original_txn_no) == (
        "RQ-20240305-0001",
        "RQ-20240305-0001",
        "AP-20240305-0007",
    )
    assert refund.fee == Decimal("-0.10")  # returned to us
    assert refund.raw.endswith(",0.10,0.00,部分退款")
    assert dict(alipay.raw_fields(refund.raw, statement.metadata.raw_columns))["支付宝交易号"] == "2024030522001400001234567890"
    assert statement.warnings == []


def test_account_bill_rows_with_newer_columns(fixture_bytes):
    statement = alipay.parse_account(fixture_bytes("alipay_account.csv"))
    income, refund = list(statement.rows)
    assert (income.direction, income.amount, income.balance_after) == (Direction.CREDIT, Decimal("66.00"), Decimal("1066.00"))
    assert (refund.direction, refund.amount) == (Direction.DEBIT, Decimal("16.00"))
    assert refund.bank_ref == "300120240305000002" and refund.business_ref == "2024030522001400001234567890"
    assert statement.totals.amount_by_type[Direction.DEBIT] == Decimal("16.00")


def test_zip_with_summary_member(fixture_bytes):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("20885512340000990156_20240305_业务明细(汇总).csv", "#汇总\n".encode("gb18030"))
        archive.writestr("20885512340000990156_20240305_业务明细.csv", fixture_bytes("alipay_trade.csv"))
    assert len(list(alipay.parse_trade(buffer.getvalue()).rows)) == 2
    with pytest.raises(StatementParseError) as caught:
        alipay.parse_account(buffer.getvalue())
    assert "账务明细.csv" in caught.value.reason


def test_footer_mismatch_strict_and_lenient(fixture_bytes):
    data = _edit(fixture_bytes("alipay_trade.csv"), "#交易合计：1笔，商家实收共66.00元", "#交易合计：1笔，商家实收共67.00元")
    error = _error(alipay.parse_trade, data)
    assert (error.line, error.field) == (9, "#交易合计")
    assert "declares 67.00, parsed rows give 66.00" in error.reason
    statement = alipay.parse_trade(data, strict_totals=False)
    assert len(list(statement.rows)) == 2
    assert statement.warnings[0].message == "footer #交易合计 商家实收 declares 67.00, parsed rows give 66.00"


# What a footer's clauses meant when they were read by one regular expression (quadratic on a long line):
# ``footer_amounts`` must read every footer the same.
_CLAUSES = re.compile(r"([^，]*?)共(-?\d+(?:\.\d+)?)元")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="共元，1.-a", max_size=30))
def test_footer_clauses_are_read_as_before(text):
    assert alipay.footer_amounts(text) == [(label, Decimal(value)) for label, value in _CLAUSES.findall(text)]


def test_a_footer_line_of_a_megabyte_is_read_at_once(fixture_bytes):
    """A damaged bill's footer clause of a megabyte with no amount (the fuzz test found one) is read in one pass, not after
    minutes of backtracking; its rows are all there."""
    data = _edit(fixture_bytes("alipay_trade.csv"), "商家实收共66.00元", "商" * 1_000_000)
    statement = alipay.parse_trade(data)
    assert len(list(statement.rows)) == 2 and statement.totals.complete


def test_errors_name_line_and_field(fixture_bytes):
    data = fixture_bytes("alipay_trade.csv")
    error = _error(alipay.parse_trade, _edit(data, "-16.00,-16.00", "-16.00,-1x.00"))
    assert (error.line, error.field) == (7, "商家实收（元）".replace("（", "(").replace("）", ")"))
    error = _error(alipay.parse_trade, _edit(data, "2024-03-05 17:02:10", "2024/03/05 17:02:10"))
    assert (error.line, error.field) == (7, "完成时间")
    error = _error(alipay.parse_trade, _edit(data, "退款\t", "赔付\t"))
    assert (error.line, error.field) == (7, "业务类型")
    error = _error(alipay.parse_trade, _edit(data, ",服务费（元）", ",手续费（元）"))
    assert (error.line, error.field) == (5, "服务费(元)")
    error = _error(alipay.parse_trade, _edit(data, ",部分退款", ""))
    assert error.line == 7 and "fields" in error.reason


def test_utf8_or_foreign_files_are_refused(fixture_bytes):
    error = _error(alipay.parse_trade, b"#\xff\n")  # not UTF-8, not GB18030 either
    assert error.line == 1 and "gb18030" in error.reason
    assert "empty file" in _error(alipay.parse_trade, b"").reason
    error = _error(alipay.parse_trade, fixture_bytes("alipay_account.csv"))
    assert "header row with 支付宝交易号" in error.reason


serials = st.text(alphabet="0123456789abcdefXYZ_-", min_size=1, max_size=30)
money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)
moments = st.datetimes(min_value=datetime(2024, 3, 5), max_value=datetime(2024, 3, 5, 23, 59, 59)).map(
    lambda value: value.replace(microsecond=0, tzinfo=SHANGHAI)
)


@st.composite
def trade_rows(draw):
    trade_no, order_no = draw(serials), draw(serials)
    fee = draw(st.decimals(min_value=Decimal("0"), max_value=Decimal("9.99"), places=2))
    if draw(st.booleans()):
        return StatementLineRow(
            0,
            trade_no,
            order_no,
            LineType.COLLECTION,
            LineStatus.SUCCESS,
            draw(money),
            fee,
            "CNY",
            draw(moments),
            draw(moments),
            type_code="交易",
        )
    refund_no = draw(serials)
    return StatementLineRow(
        0,
        trade_no,
        refund_no,
        LineType.REFUND,
        LineStatus.SUCCESS,
        draw(money),
        -fee,
        "CNY",
        draw(moments),
        draw(moments),
        refund_no,
        trade_no,
        order_no,
        type_code="退款",
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(trade_rows(), max_size=10), st.booleans())
def test_trade_writer_round_trip(rows, zipped):
    data = render(write_alipay_trade, rows, period=(date(2024, 3, 5), date(2024, 3, 5)), zipped=zipped)
    statement = alipay.parse_trade(data)
    assert [row._replace(source_line=0, raw="") for row in statement.rows] == rows
    assert statement.metadata.statement_date == date(2024, 3, 5)


@st.composite
def account_rows(draw):
    at = draw(moments)
    return FundMovementRow(
        0,
        "20881234567890120156",
        at.date(),
        at,
        None,
        draw(st.sampled_from(list(Direction))),
        draw(money),
        draw(money),
        "CNY",
        counterparty_account=draw(serials),
        memo=draw(serials),
        bank_ref=draw(serials),
        business_ref=draw(serials),
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(account_rows(), max_size=10))
def test_account_writer_round_trip(rows):
    data = render(write_alipay_account, rows, period=(date(2024, 3, 5), date(2024, 3, 5)))
    statement = alipay.parse_account(data)
    assert [row._replace(source_line=0, raw="") for row in statement.rows] == rows
