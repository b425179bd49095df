import io
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from reconciliation.parsers import generic
from reconciliation.parsers.base import (
    Direction,
    FundMovementRow,
    LineStatus,
    LineType,
    StatementKind,
    StatementLineRow,
    StatementParseError,
)
from reconciliation.parsers.generic import FormatConfigError, GenericFormatConfig
from reconciliation.parsers.writers import render, write_generic_csv

SHANGHAI = ZoneInfo("Asia/Shanghai")

BANK = {
    "kind": "fund",
    "encoding": "gb18030",
    "header_row": 3,
    "footer_prefixes": ["合计"],
    "columns": {
        "booking_date": ["交易日期", "记账日期"],
        "booking_time": "交易时间",
        "debit": "借方发生额",
        "credit": "贷方发生额",
        "balance_after": "余额",
        "counterparty_name": "对方户名",
        "counterparty_account": "对方账号",
        "memo": ["摘要", "用途"],
        "bank_ref": "流水号",
    },
    "date_formats": ["%Y%m%d", "%Y-%m-%d"],
    "control_totals": {"pattern": "合计.*?(?P<count>\\d+)笔.*?借方(?P<amount>[\\d,.]+)", "scope": "debit"},
}
BANK_FILE = "\r\n".join(
    [
        "东方银行对公账户明细",
        "账号:6222000011112222,币种:人民币",
        "记账日期,交易时间,借方发生额,贷方发生额,余额,对方户名,对方账号,用途,流水号,备用",
        '20240305,09:30:00,,"1,250.00","11,250.00",华北商贸有限公司,6222000099990001,货款,SN0001,',
        "20240305,15:02:41,300.50,,10949.50,城南物流,6222000099990002,运费,SN0002,",
        "合计,共1笔,借方300.50,,,,,,,",
        "",
    ]
).encode("gb18030")


def _config(**changes) -> GenericFormatConfig:
    return GenericFormatConfig.from_dict({**BANK, **changes})


def test_bank_csv_with_titles_footer_and_control_totals():
    statement = generic.parse(BANK_FILE, config=_config(), account_ref="6222000011112222")
    credit, debit = list(statement.rows)
    assert (credit.source_line, credit.direction, credit.amount) == (4, Direction.CREDIT, Decimal("1250.00"))
    assert credit.balance_after == Decimal("11250.00")
    assert credit.booked_at == datetime(2024, 3, 5, 9, 30, tzinfo=SHANGHAI)
    assert (credit.counterparty_name, credit.memo, credit.bank_ref) == ("华北商贸有限公司", "货款", "SN0001")
    assert credit.account_ref == "6222000011112222"
    assert (debit.direction, debit.amount) == (Direction.DEBIT, Decimal("300.50"))
    assert statement.metadata.statement_date == date(2024, 3, 5)
    assert statement.warnings == []
    assert dict(generic.raw_fields(debit.raw, statement.metadata.raw_columns))["借方发生额"] == "300.50"


def _error(data: bytes, config: GenericFormatConfig) -> StatementParseError:
    with pytest.raises(StatementParseError) as caught:
        list(generic.parse(data, config=config).rows)
    return caught.value


def test_control_total_mismatch_strict_and_lenient():
    data = BANK_FILE.replace("借方300.50".encode("gb18030"), "借方300.60".encode("gb18030"))
    error = _error(data, _config())
    assert (error.line, error.field) == (6, "control_totals")
    assert error.reason == "control total amount declares 300.60, parsed rows give 300.50"
    statement = generic.parse(data, config=_config(), strict_totals=False)
    assert len(list(statement.rows)) == 2 and statement.warnings[0].line == 6


def test_errors_name_line_and_field():
    config = _config()
    error = _error(BANK_FILE.replace(b"300.50,,", b"300.5x,,"), config)
    assert (error.line, error.field) == (5, "借方发生额")
    error = _error(BANK_FILE.replace(b"20240305,15", b"2024-3-35,15"), config)
    assert (error.line, error.field) == (5, "记账日期")
    error = _error(BANK_FILE.replace("贷方发生额".encode("gb18030"), "收入".encode("gb18030")), config)
    assert (error.line, error.field) == (3, "贷方发生额")
    error = _error(BANK_FILE.replace(b",SN0002,", b",SN0002"), config)
    assert error.line == 5 and "fields" in error.reason
    error = _error(BANK_FILE.replace("城南物流".encode("gb18030"), b"\xff\xff"), config)  # not GB18030 bytes
    assert (error.line, error.field) == (5, "对方户名")
    assert "ends before the header row" in _error(b"", config).reason


def test_signed_and_indicator_conventions():
    signed = GenericFormatConfig.from_dict(
        {"kind": "fund", "columns": {"booking_date": "Date", "amount": "Amount"}, "debit_credit": "signed", "currency": "EUR"}
    )
    rows = list(generic.parse(b"Date,Amount\n2024-03-05,-12.50\n2024-03-05,3\n", config=signed).rows)
    assert [(r.direction, r.amount, r.currency) for r in rows] == [
        (Direction.DEBIT, Decimal("12.50"), "EUR"),
        (Direction.CREDIT, Decimal("3"), "EUR"),
    ]
    indicator = GenericFormatConfig.from_dict(
        {
            "kind": "fund",
            "columns": {"booking_date": "日期", "amount": "金额", "indicator": "借贷"},
            "debit_credit": "indicator",
            "indicator_map": {"借": "DEBIT", "贷": "CREDIT"},
            "date_formats": "%Y/%m/%d",
            "amount_format": {"decimal_separator": ",", "thousands_separator": "."},
        }
    )
    data = "日期;金额;借贷\n2024/03/05;1.234,56;借\n2024/03/05;7,00;不明\n".encode()
    config = GenericFormatConfig.from_dict({**indicator.to_dict(), "delimiter": ";"})
    error = _error(data, config)
    assert (error.line, error.field) == (3, "借贷")
    statement = generic.parse(data.rsplit(b"2024/03/05;7", 1)[0], config=config)
    assert [(r.direction, r.amount) for r in statement.rows] == [(Direction.DEBIT, Decimal("1234.56"))]


def test_business_kind_with_value_maps_and_fen():
    config = GenericFormatConfig.from_dict(
        {
            "kind": "business",
            "columns": {
                "channel_txn_no": "流水号",
                "txn_no": "订单号",
                "amount": "金额(分)",
                "line_type": "类型",
                "status": "状态",
                "occurred_at": "时间",
            },
            "type_map": {"支付": "COLLECTION", "退款": "REFUND"},
            "status_map": {"成功": "SUCCESS", "处理中": "PROCESSING"},
            "amount_format": {"unit": "fen"},
            "stop_at_empty_row": True,
        }
    )
    data = "\n".join(
        [
            "流水号,订单号,金额(分),类型,状态,时间",
            "C1,O1,12345,支付,成功,2024-03-05 10:00:00",
            "C2,O2,-500,退款,处理中,2024-03-05 11:00:00",
            "",
            "说明,忽略",
        ]
    ).encode()
    first, second = list(generic.parse(data, config=config).rows)
    assert (first.amount, first.line_type, first.status) == (Decimal("123.45"), LineType.COLLECTION, LineStatus.SUCCESS)
    assert (second.amount, second.line_type, second.status) == (Decimal("5.00"), LineType.REFUND, LineStatus.PROCESSING)


def test_xlsx_is_read_by_header_name():
    book = Workbook()
    sheet = book.active
    sheet.append(["Bank statement"])
    sheet.append(["Value", "Posted", "Reference", "Unused"])
    sheet.append([1234.5, datetime(2024, 3, 5), 6222000099990001, "x"])
    sheet.append([-0.1, datetime(2024, 3, 5, 8, 30), "R-2", None])
    buffer = io.BytesIO()
    book.save(buffer)
    config = GenericFormatConfig.from_dict(
        {
            "kind": "fund",
            "file_type": "xlsx",
            "header_row": 2,
            "debit_credit": "signed",
            "columns": {"booking_date": "Posted", "amount": "Value", "bank_ref": "Reference"},
        }
    )
    rows = list(generic.parse(buffer.getvalue(), config=config).rows)
    assert [(r.source_line, r.direction, r.amount, r.bank_ref) for r in rows] == [
        (3, Direction.CREDIT, Decimal("1234.5"), "6222000099990001"),
        (4, Direction.DEBIT, Decimal("0.1"), "R-2"),
    ]
    assert all(type(r.amount) is Decimal for r in rows)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"kind": "bank"}, "kind"),
        ({"columns": {"booking_date": "d"}}, "columns.debit"),
        ({"columns": {**BANK["columns"], "txn_no": "x"}}, "columns.txn_no"),
        ({"encoding": "utf-16"}, "encoding"),
        ({"encoding": "klingon"}, "encoding"),
        ({"header_row": 0}, "header_row"),
        ({"delimiter": ",,"}, "delimiter"),
        ({"date_formats": ["YYYYMMDD"]}, "date_formats"),
        ({"status_map": {"ok": "DONE"}}, "status_map.ok"),
        ({"control_totals": {"pattern": "合计(\\d+)"}}, "control_totals.pattern"),
        ({"amount_format": {"unit": "jiao"}}, "amount_format.unit"),
        ({"debit_credit": "indicator", "columns": {"booking_date": "d", "amount": "a", "indicator": "i"}}, "indicator_map"),
        ({"colums": {}}, "colums"),
    ],
)
def test_config_errors_name_the_key(change, key):
    with pytest.raises(FormatConfigError) as caught:
        GenericFormatConfig.from_dict({**BANK, **change})
    assert caught.value.key == key
    assert f"format config key {key!r}" in str(caught.value)


def test_config_round_trips_through_its_dict():
    config = _config()
    assert GenericFormatConfig.from_dict(config.to_dict()) == config
    assert config.kind is StatementKind.FUND


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999.99"), places=2)
texts = st.text(alphabet='abc 客户0123,"', max_size=12).map(str.strip)
moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2024, 12, 31)).map(
    lambda value: value.replace(microsecond=0, tzinfo=SHANGHAI)
)


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
        counterparty_name=draw(texts),
        memo=draw(texts),
        bank_ref=draw(texts),
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(fund_rows(), max_size=10), st.sampled_from(["separate_columns", "signed", "indicator"]))
def test_fund_writer_round_trip(rows, convention):
    columns = {
        "booking_date": "记账日期",
        "booking_time": "交易时间",
        "balance_after": "余额",
        "counterparty_name": "对方户名",
        "memo": "摘要",
        "bank_ref": "流水号",
    }
    columns.update(
        {
            "separate_columns": {"debit": "借方", "credit": "贷方"},
            "signed": {"amount": "金额"},
            "indicator": {"amount": "金额", "indicator": "方向"},
        }[convention]
    )
    config = GenericFormatConfig.from_dict(
        {
            **BANK,
            "columns": columns,
            "debit_credit": convention,
            "date_formats": ["%Y%m%d"],
            "indicator_map": {"借": "DEBIT", "贷": "CREDIT"},
            "control_totals": {"pattern": "合计(?P<count>\\d+)笔", "scope": "all"},
        }
    )
    data = render(write_generic_csv, rows, config=config, footer="合计{count}笔")
    statement = generic.parse(data, config=config)
    assert [row._replace(source_line=0, raw="") for row in statement.rows] == rows
    assert statement.warnings == []


@st.composite
def business_rows(draw):
    at = draw(moments)
    line_type = draw(st.sampled_from([LineType.COLLECTION, LineType.REFUND]))
    return StatementLineRow(
        0,
        draw(texts.filter(bool)),
        draw(texts),
        line_type,
        draw(st.sampled_from(list(LineStatus))),
        draw(money),
        draw(money),
        "CNY",
        at,
        None,
        type_code={LineType.COLLECTION: "支付", LineType.REFUND: "退款"}[line_type],
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(business_rows(), max_size=10))
def test_business_writer_round_trip(rows):
    config = GenericFormatConfig.from_dict(
        {
            "kind": "business",
            "stop_at_empty_row": True,
            "columns": {
                "channel_txn_no": "流水号",
                "txn_no": "订单号",
                "amount": "金额",
                "fee": "手续费",
                "line_type": "类型",
                "status": "状态",
                "occurred_date": "日期",
                "occurred_time": "时间",
            },
            "type_map": {"支付": "COLLECTION", "退款": "REFUND"},
            "status_map": {"成功": "SUCCESS", "失败": "FAILED", "处理中": "PROCESSING"},
            "control_totals": {"pattern": "共(?P<count>\\d+)笔，(?P<amount>[\\d.]+)"},
        }
    )
    data = render(write_generic_csv, rows, config=config, footer="共{count}笔，{amount}")
    statement = generic.parse(data, config=config)
    assert [row._replace(source_line=0, raw="") for row in statement.rows] == rows
