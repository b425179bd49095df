from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from reconciliation import parsers
from reconciliation.parsers import FORMATS, StatementKind, detect
from reconciliation.parsers.base import LineStatus, LineType, StatementLineRow
from reconciliation.parsers.writers import render, write_alipay_trade, write_unionpay_zip, write_unionpay_zm

ROW = StatementLineRow(
    0,
    "202403051030150000001",
    "UP-1",
    LineType.COLLECTION,
    LineStatus.SUCCESS,
    Decimal("1.00"),
    Decimal("0.01"),
    "CNY",
    datetime(2024, 3, 5, 10, tzinfo=ZoneInfo("Asia/Shanghai")),
    None,
)


@pytest.mark.parametrize(
    ("name", "code", "kind", "day"),
    [
        ("wechat_trade_all.csv", "WECHAT_TRADE", StatementKind.BUSINESS, date(2024, 3, 5)),
        ("wechat_trade_legacy.csv", "WECHAT_TRADE", StatementKind.BUSINESS, date(2016, 8, 2)),
        ("alipay_trade.csv", "ALIPAY_TRADE", StatementKind.BUSINESS, date(2024, 3, 5)),
        ("alipay_account.csv", "ALIPAY_ACCOUNT", StatementKind.FUND, date(2024, 3, 5)),
        ("mt940_two_statements.sta", "MT940", StatementKind.FUND, date(2024, 3, 4)),
        ("camt053_001_08_batch.xml", "CAMT053", StatementKind.FUND, date(2024, 3, 5)),
    ],
)
def test_detects_fixture_formats_from_content(fixture_bytes, name, code, kind, day):
    assert detect(fixture_bytes(name)) == (code, kind, day)


def test_detects_unionpay_zip_and_bare_file_and_zipped_alipay():
    assert detect(render(write_unionpay_zip, [ROW], file_date=date(2024, 3, 5))) == (
        "UNIONPAY_ZM",
        StatementKind.BUSINESS,
        date(2024, 3, 5),
    )
    assert detect(render(write_unionpay_zm, [ROW])) == ("UNIONPAY_ZM", StatementKind.BUSINESS, None)
    zipped = render(write_alipay_trade, [], period=(date(2024, 3, 5), date(2024, 3, 5)), zipped=True)
    assert detect(zipped) == ("ALIPAY_TRADE", StatementKind.BUSINESS, date(2024, 3, 5))


def test_unknown_content_is_not_detected():
    assert detect(b"") is None
    assert detect(b"Date,Amount\n2024-03-05,1.00\n") is None
    assert detect(b"<html></html>") is None
    assert detect(b"PK\x03\x04broken") is None


def test_registry_lists_every_format_and_dispatches(fixture_bytes):
    assert set(FORMATS) == {
        "WECHAT_TRADE",
        "WECHAT_FUND",
        "ALIPAY_TRADE",
        "ALIPAY_ACCOUNT",
        "UNIONPAY_ZM",
        "MT940",
        "CAMT053",
        "GENERIC",
    }
    assert FORMATS["MT940"].kind is StatementKind.FUND and FORMATS["GENERIC"].kind is None
    statement = parsers.parse("WECHAT_TRADE", fixture_bytes("wechat_trade_all.csv"))
    rows = list(statement.rows)
    assert statement.format == "WECHAT_TRADE" and len(rows) == 3
    assert parsers.raw_fields("WECHAT_TRADE", rows[0].raw, statement.metadata.raw_columns)[0] == (
        "交易时间",
        "2024-03-05 09:12:30",
    )
    with pytest.raises(ValueError):
        parsers.parse("NOPE", b"")


def test_file_objects_are_streamed(fixture_bytes, tmp_path):
    path = tmp_path / "bill.csv"
    path.write_bytes(fixture_bytes("wechat_trade_all.csv"))
    with path.open("rb") as stream:
        assert len(list(parsers.parse("WECHAT_TRADE", stream).rows)) == 3
