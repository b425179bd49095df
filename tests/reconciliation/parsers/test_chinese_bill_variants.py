"""WeChat and Alipay bills as they reach us: REFUND bills dated by the refunds, bills re-saved in another
encoding, and personal (consumer) bills uploaded by mistake."""

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from reconciliation import parsers
from reconciliation.parsers import alipay, wechat
from reconciliation.parsers.base import LineStatus, LineType, StatementParseError

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _error(parse, data: bytes, **options) -> StatementParseError:
    with pytest.raises(StatementParseError) as caught:
        list(parse(data, **options).rows)
    return caught.value


def _recoded(data: bytes, source: str, target: str) -> bytes:
    return data.decode(source).lstrip("\ufeff").encode(target)


# --- WeChat REFUND bill -----------------------------------------------------------------------


def test_refund_bill_rows_are_dated_by_the_refund_not_the_payment(fixture_bytes):
    statement = wechat.parse_trade(fixture_bytes("wechat_trade_refund.csv"))
    rows = list(statement.rows)

    assert statement.metadata.variant == "REFUND"
    first, processing, without_applied = rows
    # 交易时间 2024-04-28 is the refunded payment; the refund was asked for on the 30th.
    assert first.occurred_at == datetime(2024, 4, 30, 9, 41, 17, tzinfo=SHANGHAI)
    assert first.completed_at == datetime(2024, 4, 30, 9, 41, 20, tzinfo=SHANGHAI)
    assert (first.line_type, first.status, first.amount) == (LineType.REFUND, LineStatus.SUCCESS, Decimal("36.00"))
    assert (first.channel_txn_no, first.txn_no) == ("50310002024043000000101", "RT-0430-0001")
    assert (first.original_channel_txn_no, first.original_txn_no) == ("4200002024042822220031", "SO-0428-031")
    # Still processing: asked for, not completed.
    assert processing.occurred_at == datetime(2024, 4, 30, 23, 58, 2, tzinfo=SHANGHAI)
    assert (processing.status, processing.completed_at) == (LineStatus.PROCESSING, None)
    # No 退款申请时间: dated by 退款成功时间.
    assert without_applied.occurred_at == without_applied.completed_at == datetime(2024, 4, 30, 15, 0, 31, tzinfo=SHANGHAI)
    # The bill's period is the refunds' day, not the payments' days (28th to 30th).
    assert (statement.metadata.period_start, statement.metadata.period_end) == (date(2024, 4, 30), date(2024, 4, 30))
    assert statement.metadata.statement_date == date(2024, 4, 30)
    assert statement.totals.amount_by_type[LineType.REFUND] == Decimal("53.80")
    assert statement.warnings == []


def test_refund_bill_row_without_refund_times_keeps_the_payment_time_with_a_warning(fixture_bytes):
    data = fixture_bytes("wechat_trade_refund.csv").replace(b"`2024-04-30 15:00:31,", b"`,")
    statement = wechat.parse_trade(data)
    rows = list(statement.rows)
    assert rows[2].occurred_at == datetime(2024, 4, 30, 8, 30, tzinfo=SHANGHAI)
    [warning] = statement.warnings
    assert (warning.line, warning.field) == (4, "退款申请时间")
    assert "退款成功时间" in warning.message


def test_all_bill_refund_rows_keep_their_own_time(fixture_bytes):
    # In the ALL bill a refund row's 交易时间 is the refund's: unchanged.
    refund = list(wechat.parse_trade(fixture_bytes("wechat_trade_all.csv")).rows)[2]
    assert refund.occurred_at == refund.completed_at == datetime(2024, 3, 5, 18, 40, 2, tzinfo=SHANGHAI)


def test_refund_bill_with_a_bad_refund_time_names_line_and_field(fixture_bytes):
    data = fixture_bytes("wechat_trade_refund.csv").replace(b"`2024-04-30 23:58:02,", b"`2024-04-31 23:58:02,")
    error = _error(wechat.parse_trade, data)
    assert (error.line, error.field) == (3, "退款申请时间")


# --- encodings --------------------------------------------------------------------------------


def test_wechat_bill_re_saved_as_gbk_is_read(fixture_bytes):
    statement = wechat.parse_trade(fixture_bytes("wechat_trade_all_gbk.csv"))
    rows = list(statement.rows)
    assert [row.amount for row in rows] == [Decimal("88.00"), Decimal("19.90")]
    assert statement.metadata.raw_columns[0] == "交易时间"
    assert dict(wechat.raw_fields(rows[0].raw, statement.metadata.raw_columns))["商品名称"] == "月饼礼盒"
    assert statement.warnings == []


def test_wechat_fund_bill_in_gb18030_is_read():
    header = (
        "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),"
        "资金变更提交申请人,备注,业务凭证号"
    )
    row = (
        "`2024-05-03 02:00:11,`4200002024050200000001,`1003000000202405030000001,`交易,`交易,`收入,"
        "`66.60,`1066.60,`system,`货款𠀀,`"
    )
    summary = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\n`1,`1,`66.60,`0,`0.00"
    data = "\n".join([header, row, summary, ""]).encode("gb18030")  # 𠀀: a character outside GBK
    [movement] = list(wechat.parse_fund(data).rows)
    assert movement.amount == Decimal("66.60") and movement.memo.endswith("货款𠀀")


def test_alipay_bill_re_saved_as_utf8_is_read(fixture_bytes):
    statement = alipay.parse_account(fixture_bytes("alipay_account_utf8_bom.csv"))
    rows = list(statement.rows)
    assert [(row.direction.value, row.amount) for row in rows] == [("CREDIT", Decimal("129.00")), ("DEBIT", Decimal("7.50"))]
    assert rows[0].memo == "台灯"
    assert statement.metadata.account_ref == "20885598760000330156"
    assert statement.warnings == []
    # Without the BOM too, and the trade bill as well.
    without_bom = fixture_bytes("alipay_account_utf8_bom.csv").removeprefix(b"\xef\xbb\xbf")
    assert len(list(alipay.parse_account(without_bom).rows)) == 2
    trade = _recoded(fixture_bytes("alipay_trade.csv"), "gb18030", "utf-8")
    assert list(alipay.parse_trade(trade).rows) == list(alipay.parse_trade(fixture_bytes("alipay_trade.csv")).rows)


def test_alipay_zip_holding_a_utf8_bill_is_read(fixture_bytes):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("20885598760000330156_20240506_账务明细.csv", fixture_bytes("alipay_account_utf8_bom.csv"))
    rows = list(alipay.parse_account(buffer.getvalue()).rows)
    assert [row.amount for row in rows] == [Decimal("129.00"), Decimal("7.50")]


def test_explicit_encoding_overrides_detection(fixture_bytes):
    data = fixture_bytes("alipay_account_utf8_bom.csv")
    error = _error(alipay.parse_account, data, encoding="gbk")  # a wrong setting is obeyed, and visible
    assert error.line is not None
    error = _error(wechat.parse_trade, fixture_bytes("wechat_trade_all_gbk.csv"), encoding="utf-8")
    assert error.line == 1 and "utf-8" in error.reason and "GBK" in error.reason
    assert len(list(wechat.parse_trade(fixture_bytes("wechat_trade_all_gbk.csv"), encoding="gb18030").rows)) == 2
    error = _error(wechat.parse_trade, fixture_bytes("wechat_trade_all.csv"), encoding="no-such-codec")
    assert error.field == "encoding" and "'no-such-codec'" in error.reason


def test_an_encoding_option_goes_through_the_registry(fixture_bytes):
    for code, name, encoding in (
        ("WECHAT_TRADE", "wechat_trade_all_gbk.csv", "gbk"),
        ("ALIPAY_ACCOUNT", "alipay_account_utf8_bom.csv", "utf-8-sig"),
    ):
        statement = parsers.parse(code, fixture_bytes(name), encoding=encoding)
        assert len(list(statement.rows)) == 2 and statement.warnings == []


def test_a_gbk_line_inside_a_utf8_bill_names_its_line_and_field(fixture_bytes):
    lines = fixture_bytes("wechat_trade_all.csv").split(b"\n")
    lines[3] = lines[3].decode("utf-8").encode("gbk")  # one row re-typed in another editor
    error = _error(wechat.parse_trade, b"\n".join(lines))
    assert (error.line, error.field) == (4, "商品名称")


def test_utf16_bill_is_refused_with_advice(fixture_bytes):
    data = fixture_bytes("wechat_trade_all.csv").decode("utf-8-sig").encode("utf-16")
    for parse in (wechat.parse_trade, alipay.parse_trade):
        error = _error(parse, data)
        assert error.line == 1 and "UTF-16" in error.reason


# --- personal bills ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "name", "channel"),
    [
        (wechat.parse_trade, "wechat_personal_bill.csv", "WeChat Pay"),
        (wechat.parse_fund, "wechat_personal_bill.csv", "WeChat Pay"),
        (alipay.parse_trade, "alipay_personal_bill.csv", "Alipay"),
        (alipay.parse_account, "alipay_personal_bill.csv", "Alipay"),
        # Uploaded under the other channel: still told for what it is.
        (alipay.parse_trade, "wechat_personal_bill.csv", "WeChat Pay"),
        (wechat.parse_trade, "alipay_personal_bill.csv", "Alipay"),
    ],
)
def test_personal_bills_are_refused_as_personal(fixture_bytes, parse, name, channel):
    error = _error(parse, fixture_bytes(name))
    assert f"personal {channel} bill" in error.reason and "not a merchant bill" in error.reason
    assert error.line == 1


def test_personal_bill_without_its_title_is_known_by_its_columns(fixture_bytes):
    wechat_lines = fixture_bytes("wechat_personal_bill.csv").decode("utf-8-sig").splitlines()
    headless = "\n".join(wechat_lines[11:]).encode("utf-8")  # the column header first
    error = _error(wechat.parse_trade, headless)
    assert error.line == 1 and "personal WeChat Pay bill" in error.reason
    # The newer Alipay app export: a different preamble and columns, the same refusal.
    newer = "\n".join(
        [
            "------------------------------------------------------------------------------------",
            "导出信息：",
            "姓名：林一",
            "交易时间,交易分类,交易对方,对方账号,商品说明,收/支,金额,收/付款方式,交易状态,交易订单号,商家订单号,备注,",
            "2024-04-15 08:10:22,餐饮美食,便利店,/,早餐,支出,9.80,余额,交易成功,2024041522001499990001\t,T0415\t,,",
        ]
    ).encode("gb18030")
    error = _error(alipay.parse_trade, newer)
    assert error.line == 4 and "personal Alipay bill" in error.reason


def test_merchant_bills_are_not_taken_for_personal_ones(fixture_bytes):
    error = _error(wechat.parse_trade, fixture_bytes("alipay_trade.csv"))
    assert "personal" not in error.reason and "not a WeChat Pay trade bill" in error.reason
    error = _error(alipay.parse_trade, fixture_bytes("alipay_account.csv"))
    assert "personal" not in error.reason and "header row with 支付宝交易号" in error.reason


def test_nul_bytes_in_a_header_are_refused(fixture_bytes):
    # A NUL inside a header name would be stored with the file's columns, which the database refuses.
    data = fixture_bytes("wechat_trade_all.csv").replace(",代金券金额".encode(), ",\x00代金券金额".encode(), 1)
    error = _error(wechat.parse_trade, data)
    assert error.line == 1 and "NUL" in error.reason
    error = _error(alipay.parse_account, fixture_bytes("alipay_account_utf8_bom.csv").replace(b"#", b"#\x00", 1))
    assert error.line == 1 and "NUL" in error.reason
