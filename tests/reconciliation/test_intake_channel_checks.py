"""A statement file must belong to its channel: a format the channel takes, of one of its bank accounts,
in that account's currency; refusals keep the parse's warnings and never show an empty line number."""

import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from helpers import receive, take_in, wechat_bill, wechat_rows

from reconciliation.models import BankAccount, Channel, FundMovement, StatementFile, StatementFormat, StatementLine
from reconciliation.parsers.base import Direction, FundMovementRow
from reconciliation.parsers.writers import render, write_alipay_trade, write_mt940
from reconciliation.services.intake.statements import (
    StatementRefused,
    channel_formats_accepted,
)

DAY = date(2025, 6, 11)
CAMT_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"


def camt_statement(account: str, amounts: list[str], *, currency: str = "CNY", opening: str = "500.00",
                   statuses: list[str] | None = None, closing: str | None = None) -> str:  # fmt: skip
    """One Stmt of ``account`` with booked credits of ``amounts`` (or the given statuses)."""
    statuses = statuses or ["BOOK"] * len(amounts)
    booked = sum((Decimal(a) for a, s in zip(amounts, statuses, strict=True) if s == "BOOK"), Decimal(opening))
    entries = "".join(
        f'<Ntry><Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>{status}</Sts>'
        f"<BookgDt><Dt>{DAY}</Dt></BookgDt><AcctSvcrRef>R{n}</AcctSvcrRef></Ntry>"
        for n, (amount, status) in enumerate(zip(amounts, statuses, strict=True), 1)
    )
    balance = '<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="{ccy}">{amount}</Amt>'
    balance += "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>"
    balances = balance.format(code="OPBD", ccy=currency, amount=opening, day=DAY)
    balances += balance.format(code="CLBD", ccy=currency, amount=closing or f"{booked:.2f}", day=DAY)
    return (
        f"<Stmt><Id>{account[-4:]}</Id><FrToDt><FrDtTm>{DAY}T00:00:00</FrDtTm><ToDtTm>{DAY}T23:59:59</ToDtTm></FrToDt>"
        f"<Acct><Id><IBAN>{account}</IBAN></Id><Ccy>{currency}</Ccy></Acct>{balances}{entries}</Stmt>"
    )


def camt(*statements: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{CAMT_NS}"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>G</MsgId><CreDtTm>{DAY}T23:30:00</CreDtTm></GrpHdr>{''.join(statements)}</BkToCstmrStmt></Document>"
    ).encode()


def mt940(account: str) -> bytes:
    rows = [FundMovementRow(0, account, DAY, None, DAY, Direction.CREDIT, Decimal("42.00"), None, "CNY", bank_ref="M1")]
    return render(write_mt940, rows, account_ref=account, currency="CNY", opening_balance=Decimal("10.00"), opening_date=DAY)


@pytest.fixture
def wechat(make_channel):
    return make_channel("WXPAY", kind=Channel.Kind.WECHAT)


@pytest.fixture
def alipay(make_channel):
    return make_channel("ALIPAY", kind=Channel.Kind.ALIPAY)


@pytest.fixture
def bank_direct(make_channel):
    return make_channel("BANKDIRECT", kind=Channel.Kind.BANK_DIRECT)


# --- the format must be one the channel takes ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_wechat_bill_under_an_alipay_channel_is_refused_naming_both(alipay):
    with pytest.raises(StatementRefused) as caught:
        receive(alipay, wechat_bill(wechat_rows(2, day=(2025, 6, 11))), name="wx.csv")
    reason = caught.value.reason
    assert "WeChat Pay trade bill" in reason and "channel ALIPAY (Alipay)" in reason
    assert "Alipay business detail" in reason  # what it takes instead
    assert str(caught.value).startswith("wx.csv: ")
    assert not StatementFile.objects.exists()


@pytest.mark.django_db
def test_an_alipay_bill_under_a_bank_direct_channel_is_refused(bank_direct):
    bill = render(write_alipay_trade, wechat_rows(2, day=(2025, 6, 11)), period=(DAY, DAY))
    with pytest.raises(StatementRefused) as caught:
        receive(bank_direct, bill)
    assert "format Alipay business detail, which channel BANKDIRECT (Bank direct connection) does not take" in str(caught.value)
    assert "its Business detail files are Configurable CSV/XLSX" in str(caught.value)  # once a mapping is configured
    assert not StatementFile.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("declared", [None, "FUND"])
def test_a_bank_statement_under_a_wechat_channel_is_refused(wechat, reserve_account, declared):
    data = camt(camt_statement(reserve_account.account_no, ["1.00"]))
    with pytest.raises(StatementRefused, match=r"ISO 20022 camt.053, which channel WXPAY \(WeChat Pay\) does not take"):
        receive(wechat, data, kind=declared)
    assert not StatementFile.objects.exists()


@pytest.mark.django_db
def test_each_kind_takes_its_own_files(wechat, alipay, bank_direct, reserve_account):
    assert take_in(wechat, wechat_bill(wechat_rows(2, day=(2025, 6, 11)))).status == "PARSED"
    bill = render(write_alipay_trade, wechat_rows(2, day=(2025, 6, 11)), period=(DAY, DAY))
    assert take_in(alipay, bill).status == "PARSED"
    assert take_in(bank_direct, mt940(reserve_account.account_no)).status == "PARSED"
    assert take_in(bank_direct, camt(camt_statement(reserve_account.account_no, ["3.00"]))).status == "PARSED"


@pytest.mark.django_db
def test_configured_formats_replace_the_kinds_default_for_their_statement_kind(wechat, bank_direct, reserve_account):
    assert channel_formats_accepted(channel=wechat, kind="FUND") == {"WECHAT_FUND"}
    StatementFormat.objects.create(channel=wechat, kind="FUND", format_code="MT940")
    assert channel_formats_accepted(channel=wechat, kind="FUND") == {"MT940"}
    assert channel_formats_accepted(channel=wechat, kind="BUSINESS") == {"WECHAT_TRADE"}  # untouched
    assert take_in(wechat, mt940(reserve_account.account_no)).status == "PARSED"

    StatementFormat.objects.create(channel=bank_direct, kind="FUND", format_code="CAMT053")
    with pytest.raises(StatementRefused, match="its Fund statement files are ISO 20022 camt.053"):
        receive(bank_direct, mt940(reserve_account.account_no) + b"\n")


@pytest.mark.django_db
def test_a_non_default_configured_format_is_used_for_the_content_it_reads(bank_direct, reserve_account):
    StatementFormat.objects.create(channel=bank_direct, kind="FUND", format_code="CAMT053", is_default=True)
    lenient = StatementFormat.objects.create(
        channel=bank_direct, kind="FUND", format_code="MT940", is_default=False, strict_totals=False
    )
    statement_file = receive(bank_direct, mt940(reserve_account.account_no), kind="FUND")
    assert (statement_file.format_code, statement_file.statement_format) == ("MT940", lenient)


@pytest.mark.django_db
def test_a_channel_of_kind_other_takes_any_format_until_formats_are_configured(channel, reserve_account):
    assert channel.kind == Channel.Kind.OTHER and channel_formats_accepted(channel=channel, kind="FUND") is None
    StatementFormat.objects.create(channel=channel, kind="BUSINESS", format_code="WECHAT_TRADE")
    bill = render(write_alipay_trade, wechat_rows(1, day=(2025, 6, 11)), period=(DAY, DAY))
    with pytest.raises(StatementRefused, match="its Business detail files are WeChat Pay trade bill"):
        receive(channel, bill)


@pytest.mark.django_db
def test_a_unionpay_channel_takes_no_fund_statement(make_channel, reserve_account):
    unionpay = make_channel("UPOP", kind=Channel.Kind.UNIONPAY)
    with pytest.raises(StatementRefused, match=r"channel UPOP \(UnionPay\) takes no Fund statement files"):
        receive(unionpay, mt940(reserve_account.account_no))


@pytest.mark.django_db
def test_another_channels_format_cannot_be_chosen(wechat, make_channel):
    other = make_channel("OTHERWX", kind=Channel.Kind.WECHAT)
    foreign = StatementFormat.objects.create(channel=other, kind="BUSINESS", format_code="WECHAT_TRADE")
    with pytest.raises(StatementRefused, match="is channel OTHERWX's, not channel WXPAY's"):
        receive(wechat, wechat_bill(wechat_rows(1)), statement_format=foreign)


# --- the account and currency must be the channel's --------------------------------------------------------------


@pytest.mark.django_db
def test_a_statement_of_an_account_that_is_not_the_channels_fails_and_imports_nothing(bank_direct, reserve_account):
    statement_file = take_in(bank_direct, camt(camt_statement("CN9999000011112222", ["5.00"])))
    assert statement_file.status == StatementFile.Status.FAILED
    (error,) = statement_file.errors
    assert error["line"] is None and error["field"] == "Acct"
    assert "account CN9999000011112222, which is not one of channel BANKDIRECT's bank accounts" in error["reason"]
    assert "****2222" in error["reason"]  # ours, masked as everywhere
    assert not FundMovement.objects.exists()


@pytest.mark.django_db
def test_an_mt940_of_another_account_fails(bank_direct, reserve_account):
    statement_file = take_in(bank_direct, mt940("6222000055556666"))
    assert statement_file.status == "FAILED" and "account 6222000055556666" in statement_file.errors[0]["reason"]
    assert not FundMovement.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("written", ["TESTBANKXXX/6222000011112222", "6222 0000 1111 2222", "6222000011112222CNY"])
def test_our_account_is_recognised_however_the_bank_writes_it(bank_direct, reserve_account, written):
    statement_file = take_in(bank_direct, mt940(written))
    assert statement_file.status == "PARSED", statement_file.errors
    assert statement_file.bank_account == reserve_account
    assert list(FundMovement.objects.values_list("bank_account", "account_ref")) == [(reserve_account.pk, written)]


@pytest.mark.django_db
def test_the_settlement_account_at_another_bank_is_the_channels_too(wechat, make_channel):
    from reconciliation.models import Bank

    other_bank = Bank.objects.create(code="OTHERBANK", name="另一银行")
    settles = BankAccount.objects.create(bank=other_bank, kind="RESERVE", account_no="7777000011110000", account_name="备付金")
    channel = make_channel("SETTLES", kind=Channel.Kind.BANK_DIRECT, settlement_account=settles)
    assert take_in(channel, camt(camt_statement(settles.account_no, ["1.00"]))).status == "PARSED"


@pytest.mark.django_db
def test_a_statement_of_another_account_than_the_one_chosen_fails(bank_direct, reserve_account, general_account):
    statement_file = take_in(
        bank_direct, camt(camt_statement(general_account.account_no, ["5.00"])), bank_account=reserve_account
    )
    assert statement_file.status == "FAILED"
    assert "not of the chosen bank account" in statement_file.errors[0]["reason"]


@pytest.mark.django_db
def test_a_statement_in_another_currency_than_its_account_fails(bank_direct, reserve_account):
    statement_file = take_in(bank_direct, camt(camt_statement(reserve_account.account_no, ["5.00"], currency="USD")))
    assert statement_file.status == "FAILED"
    assert statement_file.errors[0]["reason"].endswith("is in USD, but bank account 测试银行 ****2222 is held in CNY")
    assert not FundMovement.objects.exists()


# --- several accounts in one camt file ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_file_of_several_accounts_is_refused_naming_them(bank_direct, reserve_account, general_account):
    data = camt(
        camt_statement(reserve_account.account_no, ["5.00"]),
        camt_statement(general_account.account_no, [], opening="20.00"),  # a quiet day is named too
    )
    statement_file = take_in(bank_direct, data)
    assert statement_file.status == "FAILED"
    reason = statement_file.errors[0]["reason"]
    assert "statements of 2 accounts or currencies (6222000011112222 CNY; 6222000033334444 CNY)" in reason
    assert not FundMovement.objects.exists()


@pytest.mark.django_db
def test_several_days_of_one_account_share_a_file(bank_direct, reserve_account):
    data = camt(
        camt_statement(reserve_account.account_no, ["5.00"]),
        camt_statement(reserve_account.account_no, ["7.00"], opening="505.00"),
    )
    statement_file = take_in(bank_direct, data)
    assert (statement_file.status, statement_file.line_count, statement_file.bank_account) == ("PARSED", 2, reserve_account)
    assert statement_file.totals["by_type"] == {"CREDIT": {"count": 2, "amount": "12.00"}}


# --- camt variants through intake --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_quiet_day_is_parsed_with_its_balances_and_a_warning(bank_direct, reserve_account):
    statement_file = take_in(bank_direct, camt(camt_statement(reserve_account.account_no, [])))
    assert (statement_file.status, statement_file.line_count) == ("PARSED", 0)
    assert statement_file.bank_account == reserve_account
    assert statement_file.metadata["opening_balance"] == statement_file.metadata["closing_balance"] == "500.00"
    assert statement_file.warnings == [
        {
            "line": None,
            "field": None,
            "reason": "no movements: the statement states its balances only (a quiet day)",
            "code": "intake.quiet_day",
            "params": {},
        }
    ]


@pytest.mark.django_db
def test_a_zipped_camt_is_received_and_parsed(bank_direct, reserve_account):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("camt053_20250611.xml", camt(camt_statement(reserve_account.account_no, ["5.00", "6.00"])))
    statement_file = take_in(bank_direct, buffer.getvalue(), name="camt.zip")
    assert (statement_file.format_code, statement_file.kind, statement_file.statement_date) == ("CAMT053", "FUND", DAY)
    assert (statement_file.status, statement_file.line_count, statement_file.source_lines) == ("PARSED", 2, None)


# --- a refusal keeps the warnings and shows no empty line -------------------------------------------------------


@pytest.mark.django_db
def test_a_refused_file_keeps_its_warnings_and_shows_no_empty_line(bank_direct, reserve_account, clerk, client):
    statement = camt_statement(
        reserve_account.account_no, ["5.00", "2.00", "3.00"], statuses=["BOOK", "PDNG", "PDNG"], closing="510.00"
    )
    statement_file = take_in(bank_direct, camt(statement))
    assert statement_file.status == "FAILED" and not FundMovement.objects.exists()
    (error,) = statement_file.errors
    assert (error["line"], error["field"]) == (None, "Bal/CLBD")
    assert "2 entries skipped as not booked (status PDNG: 2)" in error["reason"]
    assert [w["line"] for w in statement_file.warnings] == [2, 3, None]
    assert statement_file.warnings[-1]["reason"].endswith("(entries 2, 3)")

    client.force_login(clerk)
    page = client.get(reverse("reconciliation:statement_detail", args=[statement_file.pk])).content.decode()
    progress = client.get(reverse("reconciliation:statement_progress", args=[statement_file.pk])).content.decode()
    for html in (page, progress):
        assert "line None" not in html and "line ," not in html
        assert "<li>, field" not in html and '"error-text">, ' not in html
    assert "field Bal/CLBD: " in page and "entry with status PDNG skipped" in page
    assert "3 warnings" in progress


@pytest.mark.django_db
def test_a_bill_refused_at_parsing_keeps_the_warnings_given_before(wechat):
    rows = wechat_rows(3)
    rows[2] = rows[2]._replace(txn_no="X" * 80)
    statement_file = take_in(wechat, wechat_bill(rows))
    assert statement_file.status == "FAILED" and not StatementLine.objects.exists()
    assert statement_file.errors[0]["line"] == 4 and statement_file.warnings == []


@pytest.mark.django_db
def test_an_mt940_of_several_accounts_is_refused_naming_them(bank_direct, reserve_account, general_account):
    data = mt940(reserve_account.account_no) + mt940(general_account.account_no).replace(b":20:STMT", b":20:STMT2")
    statement_file = take_in(bank_direct, data)
    assert statement_file.status == "FAILED" and not FundMovement.objects.exists()
    assert "(6222000011112222 CNY; 6222000033334444 CNY)" in statement_file.errors[0]["reason"]


@pytest.mark.django_db
def test_the_channel_admin_shows_the_formats_it_takes(wechat, admin_client):
    StatementFormat.objects.create(channel=wechat, kind="FUND", format_code="CAMT053")
    url = reverse("admin:reconciliation_channel_change", args=[wechat.pk])
    page = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Business detail: WeChat Pay trade bill" in page and "Fund statement: ISO 20022 camt.053" in page


# --- encodings and personal bills at intake ---------------------------------------------------------------

FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "statements"


def _cp1252_mt940(account: str) -> bytes:
    """An MT940 written by a Western bank in CP1252, whose :86: memo holds ü and é."""
    text = (
        ":20:STMT-0611\r\n"
        f":25:{account}\r\n"
        ":28C:1\r\n"
        ":60F:C250611CNY10,00\r\n"
        ":61:2506110611C42,00NTRFM1//B1\r\n"
        ":86:Rückzahlung Café Zürich\r\n"
        ":62F:C250611CNY52,00\r\n"
        "-\r\n"
    )
    return text.encode("cp1252")


@pytest.mark.django_db
def test_a_bank_file_in_cp1252_is_read_with_its_own_letters(bank_direct, reserve_account):
    statement_file = take_in(bank_direct, _cp1252_mt940(reserve_account.account_no))
    assert statement_file.status == "PARSED", statement_file.errors
    assert "Rückzahlung Café Zürich" in FundMovement.objects.get().memo


@pytest.mark.django_db
def test_an_encoding_configured_on_the_format_is_the_one_used(bank_direct, reserve_account):
    StatementFormat.objects.create(channel=bank_direct, kind="FUND", format_code="MT940", encoding="cp437")
    statement_file = take_in(bank_direct, _cp1252_mt940(reserve_account.account_no), kind="FUND")
    assert statement_file.status == "PARSED", statement_file.errors
    # cp437 reads CP1252's ü (0xFC) as ⁿ: the configured encoding was used, not detection.
    assert "Rückzahlung" not in FundMovement.objects.get().memo


@pytest.mark.django_db
def test_an_unknown_encoding_cannot_be_configured(bank_direct):
    from django.core.exceptions import ValidationError

    fmt = StatementFormat(channel=bank_direct, kind="FUND", format_code="MT940", encoding="klingon-8")
    with pytest.raises(ValidationError) as refused:
        fmt.full_clean()
    assert "encoding" in refused.value.message_dict


@pytest.mark.django_db
def test_a_wechat_bill_resaved_as_gbk_is_recognised_and_read(wechat):
    data = (FIXTURES / "wechat_trade_all_gbk.csv").read_bytes()
    statement_file = take_in(wechat, data)
    assert statement_file.format_code == "WECHAT_TRADE"
    assert statement_file.status == "PARSED", statement_file.errors
    assert StatementLine.objects.filter(file=statement_file).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fixture", "channel"), [("wechat_personal_bill.csv", "WeChat Pay"), ("alipay_personal_bill.csv", "Alipay")]
)
def test_a_personal_bill_is_refused_before_it_is_stored(wechat, fixture, channel):
    with pytest.raises(StatementRefused) as refused:
        receive(wechat, (FIXTURES / fixture).read_bytes())
    assert f"personal {channel} bill" in str(refused.value)
    assert not StatementFile.objects.exists()
