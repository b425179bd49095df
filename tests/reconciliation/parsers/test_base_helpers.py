from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from reconciliation.parsers.base import (
    CsvRecords,
    FieldError,
    LocalDateTimeParser,
    ParsedStatement,
    StatementKind,
    StatementMetadata,
    StatementParseError,
    StatementTotals,
    parse_amount,
    parse_percent,
)
from reconciliation.parsers.messages import Code, Message


def test_parse_amount_reads_plain_decimals_exactly():
    assert parse_amount("0.04000", "fee") == Decimal("0.04")
    assert str(parse_amount("-12.30", "x")) == "-12.30"


@pytest.mark.parametrize("text", ["12,3x", "NaN", "1e5", "1_000", "", "-", "1.2.3", "Infinity"])
def test_parse_amount_refuses_what_is_not_a_plain_amount(text):
    with pytest.raises(FieldError) as caught:
        parse_amount(text, "应结订单金额")
    assert caught.value.field == "应结订单金额"
    assert "is not an amount" in caught.value.reason
    assert caught.value.problem.code is Code.NOT_AN_AMOUNT and caught.value.problem.params["value"]


def test_percent_becomes_a_fraction_with_its_digits():
    rate = parse_percent("0.60%", "费率")
    assert rate == Decimal("0.0060")
    assert str(rate) == "0.0060"


def test_error_message_names_line_and_field():
    error = StatementParseError(Message(Code.NOT_AN_AMOUNT, value="'12,3x'"), line=12, field="应结订单金额")
    assert str(error) == "line 12, field 应结订单金额: '12,3x' is not an amount"
    assert (error.line, error.field, error.reason) == (12, "应结订单金额", "'12,3x' is not an amount")
    assert error.problem.as_json() == {"code": "value.not_amount", "params": {"value": "'12,3x'"}}


def test_an_error_without_a_line_names_no_line():
    error = StatementParseError(Message(Code.EMPTY_FILE, what=Message(Code.A_WECHAT_TRADE_BILL)))
    assert str(error) == "empty file: not a WeChat Pay trade bill"
    error = StatementParseError(Message(Code.COLUMN_MISSING), field="交易时间")
    assert str(error) == "field 交易时间: required column is missing from the header"


def test_local_times_are_aware_and_exact_across_a_dst_change():
    parse = LocalDateTimeParser(ZoneInfo("Europe/Amsterdam"))
    summer = parse("2024-03-31 12:00:00", "t")  # the day clocks go forward
    winter = parse("2024-03-30 12:00:00", "t")
    assert summer == datetime(2024, 3, 31, 12, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert winter.utcoffset().total_seconds() == 3600
    with pytest.raises(FieldError):
        parse("2024-02-30 12:00:00", "t")


def test_csv_records_join_a_quoted_field_spanning_lines():
    data = [b"a,b\n", b'"x\n', b'y",z\n', b"1,2\n"]
    records = list(CsvRecords(iter(data), encoding="utf-8"))
    assert records[1] == (2, '"x\ny",z', ["x\ny", "z"])
    assert records[2][0] == 4


def test_totals_are_refused_before_the_rows_are_read():
    statement = ParsedStatement(
        format="X",
        kind=StatementKind.FUND,
        currency="CNY",
        metadata=StatementMetadata(),
        rows=iter(()),
        totals=StatementTotals(),
        warnings=[],
    )
    with pytest.raises(RuntimeError):
        _ = statement.totals
