"""Every refusal and warning of a statement file reads in the reader's language (zh-hans or English).

The parsers give each problem a stable code with its parameters; the intake's catalogue renders it at display
time. Held here: every code has a catalogue entry whose English is the code's own, each renders in both
languages with no empty line number, no parser or intake check passes plain text past the catalogue, and for
each parser family a refusal and a warning read in both languages on the screens and in the API.
"""

from __future__ import annotations

import ast
import html
import io
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from helpers import api_key_for, take_in, wechat_bill, wechat_rows
from rest_framework.test import APIClient

from reconciliation.models import StatementFile, StatementFormat
from reconciliation.parsers import Code, Message
from reconciliation.parsers.base import LineStatus, LineType, StatementLineRow
from reconciliation.parsers.writers import render, write_unionpay_zip, write_unionpay_zm
from reconciliation.services.intake.messages import (
    CATALOGUE,
    CODES,
    IntakeCode,
    located,
    message_text,
    problem_json,
    problem_text,
    problems_shown,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "statements"
ALL_CODES = [*Code, *IntakeCode]
LANGUAGES = ("zh-hans", "en")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def sample(code, *, count: int = 2) -> dict:
    """Parameters for every placeholder of a code's text: numbers where a number is formatted, else a word."""
    english = code.english if isinstance(code.english, str) else " ".join(code.english)
    params: dict[str, object] = {}
    for name, kind in re.findall(r"%\((\w+)\)([sd])", english):
        params[name] = count if name == "count" else (7 if kind == "d" else f"<{name}>")
    return params


def rendered(code, language: str, **params) -> str:
    with translation.override(language):
        return message_text(Message(code, **params))


# --- the catalogue ----------------------------------------------------------------------------------------------


def test_every_code_has_a_catalogue_entry_and_no_entry_lacks_a_code():
    missing = [str(code) for code in ALL_CODES if code not in CATALOGUE]
    assert missing == [], "add these codes to reconciliation/services/intake/messages.py CATALOGUE"
    assert set(CATALOGUE) == set(ALL_CODES)
    assert len(CODES) == len(ALL_CODES), "two codes share a value"


@pytest.mark.parametrize("code", ALL_CODES, ids=str)
def test_the_catalogue_english_is_the_codes_own(code):
    for count in (1, 2):
        params = sample(code, count=count)
        assert rendered(code, "en", **params) == Message(code, **params).text


@pytest.mark.parametrize("code", ALL_CODES, ids=str)
def test_every_code_renders_in_both_languages(code):
    params = sample(code)
    english, chinese = rendered(code, "en", **params), rendered(code, "zh-hans", **params)
    for text in (english, chinese):
        assert "%(" not in text and "<None>" not in text
        assert all(f"<{name}>" in text for name, value in params.items() if isinstance(value, str))
    assert chinese != english, f"{code} has no zh-hans translation (make messages, then fill in the msgstr)"
    assert re.search(r"[\u4e00-\u9fff]", chinese) or code in (Code.NO_ACCOUNT,), chinese


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_problem_without_a_line_names_no_line(language):
    with translation.override(language):
        for line in (None, 0):
            for field in (None, "", "Bal/CLBD"):
                text = located("reason", line=line, field=field)
                assert "line" not in text and "第" not in text and "None" not in text
        assert located("reason") == "reason"
        assert located("reason", line=3) in ("line 3: reason", "第 3 行：reason")
        assert located("reason", line=3, field="金额") in ("line 3, field 金额: reason", "第 3 行，字段 金额：reason")
    stored = problem_json(Message(IntakeCode.NO_LINES), line=0, field="")
    assert (stored["line"], stored["field"]) == (None, None)


def test_a_phrase_given_as_a_parameter_is_translated_too():
    message = Message(Code.EMPTY_FILE, what=Message(Code.A_WECHAT_TRADE_BILL))
    assert rendered(Code.EMPTY_FILE, "en", what=Message(Code.A_WECHAT_TRADE_BILL)) == "empty file: not a WeChat Pay trade bill"
    assert rendered(Code.EMPTY_FILE, "zh-hans", what=Message(Code.A_WECHAT_TRADE_BILL)) == "空文件：不是微信支付交易账单"
    stored = problem_json(message)
    assert stored["params"] == {"what": {"code": "term.wechat_trade_bill", "params": {}}}
    with translation.override("zh-hans"):
        assert problem_text(stored) == "空文件：不是微信支付交易账单"


def test_the_plural_follows_the_count_in_both_languages():
    one = {"count": 1, "statuses": "PDNG: 1"}
    two = {"count": 2, "statuses": "PDNG: 2"}
    assert rendered(Code.CAMT_SKIPPED, "en", **one) == "1 entry skipped as not booked (status PDNG: 1)"
    assert rendered(Code.CAMT_SKIPPED, "en", **two) == "2 entries skipped as not booked (status PDNG: 2)"
    assert rendered(Code.CAMT_SKIPPED, "zh-hans", **two) == "2 个条目因未入账而跳过（状态 PDNG: 2）"


def test_a_problem_stored_before_codes_or_of_an_unknown_code_shows_its_stored_text():
    old = {"line": 4, "field": "金额", "reason": "'x' is not an amount"}
    unknown = {"line": None, "field": "", "reason": "stored text", "code": "no.such_code", "params": {}}
    misfit = {"line": 2, "field": None, "reason": "stored", "code": "value.not_amount", "params": {}}
    with translation.override("zh-hans"):
        shown = problems_shown([old, unknown, misfit])
    assert [p["reason"] for p in shown] == ["'x' is not an amount", "stored text", "stored"]
    assert [(p["line"], p["field"], p["code"], p["params"]) for p in shown] == [
        (4, "金额", None, {}),
        (None, None, "no.such_code", {}),
        (2, None, "value.not_amount", {}),
    ]


# --- nothing passes plain text past the catalogue ---------------------------------------------------------------

# Where a refusal or a warning is made, and the position of its message among the call's arguments.
_MESSAGE_ARGUMENT = {"StatementParseError": 0, "ArchiveRefused": 0, "fail": 0, "FieldError": 1, "FormatConfigError": 1}


def _plain_text_messages(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        candidates = []
        if name in _MESSAGE_ARGUMENT and len(node.args) > _MESSAGE_ARGUMENT[name]:
            candidates.append(node.args[_MESSAGE_ARGUMENT[name]])
        if name == "ParseWarning":
            candidates += node.args[2:3] + [k.value for k in node.keywords if k.arg == "problem"]
        for argument in candidates:
            if isinstance(argument, ast.JoinedStr | ast.BinOp) or (
                isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_parsers_and_the_intake_give_coded_messages_only():
    paths = sorted((ROOT / "reconciliation" / "parsers").glob("*.py"))
    paths.append(ROOT / "reconciliation" / "services" / "intake" / "statements.py")
    plain = [where for path in paths for where in _plain_text_messages(path)]
    assert plain == [], "give these a Message(Code..., **params) and a catalogue entry"


def test_every_code_the_parsers_name_exists():
    named = set()
    for path in (ROOT / "reconciliation" / "parsers").glob("*.py"):
        named |= set(re.findall(r"\bCode\.([A-Z0-9_]+)", path.read_text()))
    assert named and named <= {code.name for code in Code}
    unused = {code.name for code in Code} - named
    assert unused == set(), "codes no parser gives: retire them"


# --- each parser family through the intake, the screens and the API ----------------------------------------------

DAY = date(2025, 6, 11)
SHANGHAI = ZoneInfo("Asia/Shanghai")
CAMT_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"


def _lenient(channel, format_code: str, kind: str, **fields) -> StatementFormat:
    return StatementFormat.objects.create(channel=channel, kind=kind, format_code=format_code, strict_totals=False, **fields)


def _alipay(channel, change: tuple[str, str], **kwargs) -> StatementFile:
    text = (FIXTURES / "alipay_trade.csv").read_bytes().decode("gb18030")
    assert change[0] in text
    return take_in(channel, text.replace(change[0], change[1], 1).encode("gb18030"), **kwargs)


def _zm_rows(count: int = 2) -> list[StatementLineRow]:
    at = datetime(2025, 6, 11, 10, 30, 15, tzinfo=SHANGHAI)
    return [
        StatementLineRow(
            0,
            f"Q{n:019d}",
            f"P{n}",
            LineType.COLLECTION,
            LineStatus.SUCCESS,
            Decimal("6.00"),
            Decimal("0.04"),
            "CNY",
            at,
            None,
            type_code="S22",
        )  # fmt: skip
        for n in range(1, count + 1)
    ]


def _zm_cut_short() -> bytes:
    """Two ZM records, the second cut to 60 bytes (a download broken off, say)."""
    first, second = render(write_unionpay_zm, _zm_rows()).split(b"\r\n")[:2]
    return first + b"\r\n" + second[:60] + b"\r\n"


def _nested_zip() -> bytes:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("INN250611ZM_1", b"x")
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as archive:
        archive.writestr("INN25061188ZM_898110148160001", inner.getvalue())
    return outer.getvalue()


def _mt940(value_date: str = "250611", closing: str = "52,00") -> bytes:
    return (
        ":20:STMT1\r\n:25:6222000011112222\r\n:28C:1/1\r\n:60F:C250611CNY10,00\r\n"
        f":61:{value_date}C42,00NTRFNONREF//M1\r\n:86:货款\r\n:62F:C250611CNY{closing}\r\n-\r\n"
    ).encode()


def _camt(account: str, amounts: list[str], statuses: list[str], closing: str | None = None) -> bytes:
    booked = sum((Decimal(a) for a, s in zip(amounts, statuses, strict=True) if s == "BOOK"), Decimal("500.00"))
    entries = "".join(
        f'<Ntry><Amt Ccy="CNY">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>{status}</Sts>'
        f"<BookgDt><Dt>{DAY}</Dt></BookgDt><AcctSvcrRef>R{n}</AcctSvcrRef></Ntry>"
        for n, (amount, status) in enumerate(zip(amounts, statuses, strict=True), 1)
    )
    balance = '<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">{amount}</Amt>'
    balance += f"<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{DAY}</Dt></Dt></Bal>"
    balances = balance.format(code="OPBD", amount="500.00") + balance.format(code="CLBD", amount=closing or f"{booked:.2f}")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{CAMT_NS}"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>G</MsgId><CreDtTm>{DAY}T23:30:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>1</Id><Acct><Id><IBAN>{account}</IBAN></Id><Ccy>CNY</Ccy></Acct>{balances}{entries}</Stmt>"
        "</BkToCstmrStmt></Document>"
    ).encode()


BANK_CSV = {
    "kind": "fund",
    "encoding": "gb18030",
    "header_row": 2,
    "footer_prefixes": ["合计"],
    "columns": {"booking_date": "记账日期", "debit": "借方发生额", "credit": "贷方发生额", "bank_ref": "流水号"},
    "date_formats": ["%Y%m%d"],
    "control_totals": {"pattern": "合计.*?(?P<count>\\d+)笔.*?借方(?P<amount>[\\d,.]+)", "scope": "debit"},
}


def _bank_csv(channel, account, *, header: str = "记账日期,借方发生额,贷方发生额,流水号", footer_amount: str = "300.50"):
    data = "\r\n".join(
        [
            "东方银行对公账户明细",
            header,
            "20250611,,1250.00,SN0001",
            "20250611,300.50,,SN0002",
            f"合计,共1笔,借方{footer_amount},,",
        ]
    )
    statement_format = StatementFormat.objects.create(
        channel=channel, kind="FUND", format_code="GENERIC", config=BANK_CSV, strict_totals=False
    )
    return take_in(channel, data.encode("gb18030"), statement_format=statement_format, statement_date=DAY, bank_account=account)


# (family, what is made, the file, its code, words of the reason and its place in zh-hans and in English)
CASES = [
    (
        "wechat",
        "error",
        lambda ch, acct: take_in(ch, wechat_bill(wechat_rows(3)).replace(b"`6.00,`0.00,`0,", b"`6.0x,`0.00,`0,", 1)),
        "value.not_amount",
        "第 2 行，字段 应结订单金额：'6.0x' 不是金额",
        "line 2, field 应结订单金额: '6.0x' is not an amount",
    ),
    (
        "wechat",
        "warning",
        lambda ch, acct: take_in(
            ch,
            wechat_bill(wechat_rows(3)).replace(b"`3,`18.00", b"`4,`18.00"),
            statement_format=_lenient(ch, "WECHAT_TRADE", "BUSINESS"),
        ),
        "summary.mismatch",
        "字段 总交易单数：汇总 总交易单数 为 4，明细行合计为 3",
        "field 总交易单数: summary 总交易单数 declares 4, parsed rows give 3",
    ),
    (
        "alipay",
        "error",
        lambda ch, acct: _alipay(ch, ("\t,交易\t,", "\t,转账\t,")),
        "alipay.unknown_type",
        "字段 业务类型：未知的业务类型 '转账'（应为 交易 或 退款）",
        "field 业务类型: unknown 业务类型 '转账' (expected 交易 or 退款)",
    ),
    (
        "alipay",
        "warning",
        lambda ch, acct: _alipay(
            ch, ("#交易合计：1笔", "#交易合计：2笔"), statement_format=_lenient(ch, "ALIPAY_TRADE", "BUSINESS")
        ),
        "alipay.footer_count_mismatch",
        "表尾 #交易合计 笔数为 2，明细行合计为 1",
        "footer #交易合计 count declares 2, parsed rows give 1",
    ),
    (
        "unionpay",
        "error",
        lambda ch, acct: take_in(ch, _zm_cut_short(), statement_date=DAY),
        "unionpay.record_length",
        "第 2 行：该记录有 ",
        "line 2: record has ",
    ),
    (
        "unionpay",
        "warning",
        lambda ch, acct: take_in(ch, render(write_unionpay_zm, _zm_rows()), statement_date=DAY),
        "unionpay.no_file_date",
        "字段 交易传输时间：未提供文件日期：交易时间留空",
        "field 交易传输时间: no file date given: transaction times are left empty",
    ),
    (
        "archive",
        "error",
        lambda ch, acct: take_in(ch, _nested_zip()),
        "zip.nested",
        "ZIP 成员文件 'INN25061188ZM_898110148160001' 本身也是 ZIP 压缩包：不展开嵌套的压缩包",
        "ZIP member 'INN25061188ZM_898110148160001' is itself a ZIP archive: nested archives are not expanded",
    ),
    (
        "archive",
        "warning",
        lambda ch, acct: take_in(
            ch, render(write_unionpay_zip, _zm_rows(), file_date=DAY, error_lines=["E001 0000001 金额不符"])
        ),
        "unionpay.zme_record",
        "第 1 行：INN25061188ZME_898110148160001：银联差错记录：E001 0000001 金额不符",
        "line 1: INN25061188ZME_898110148160001: UnionPay error record: E001 0000001 金额不符",
    ),
    (
        "mt940",
        "error",
        lambda ch, acct: take_in(ch, _mt940(closing="53,00")),
        "mt940.balance_mismatch",
        "第 7 行，字段 :62F:：期末余额为 +53.00 CNY，而期初余额 +10.00 + 流水 +42.00 得 +52.00",
        "line 7, field :62F:: closing balance declares +53.00 CNY, opening balance +10.00 + movements +42.00 give +52.00",
    ),
    (
        "mt940",
        "warning",
        lambda ch, acct: take_in(ch, _mt940(value_date="250230")),
        "mt940.value_date_past_month",
        "第 5 行，字段 :61: value date：'250230' 不是有效的日历日期（2025-02 只有 28 天）：按该月最后一天 2025-02-28 处理",
        "line 5, field :61: value date: '250230' is not a calendar date (2025-02 has 28 days): taken as 2025-02-28",
    ),
    (
        "camt053",
        "error",
        lambda ch, acct: take_in(ch, _camt(acct.account_no, ["5.00", "2.00", "3.00"], ["BOOK", "PDNG", "PDNG"], "510.00")),
        "camt.balance_mismatch_skipped",
        "字段 Bal/CLBD：账户 6222000011112222 的对账单：期末余额（CLBD）为 510.00 CNY，而期初余额 500.00 + 条目 +5.00 得 505.00；"
        "2 个条目因未入账而跳过（状态 PDNG: 2），未计入条目",
        "field Bal/CLBD: statement of account 6222000011112222: closing balance (CLBD) declares 510.00 CNY, opening balance "
        "500.00 + entries +5.00 give 505.00; 2 entries skipped as not booked (status PDNG: 2), not counted in the entries",
    ),
    (
        "camt053",
        "warning",
        lambda ch, acct: take_in(ch, _camt(acct.account_no, ["5.00", "2.00"], ["BOOK", "PDNG"])),
        "camt.entry_not_booked",
        "第 2 行，字段 Sts：状态为 PDNG 的条目已跳过：未入账",
        "line 2, field Sts: entry with status PDNG skipped: not booked",
    ),
    (
        "bank csv",
        "error",
        lambda ch, acct: _bank_csv(ch, acct, header="记账日期,借方发生额,收入,流水号"),
        "generic.column_missing",
        "第 2 行，字段 贷方发生额：表头缺少必需的列（查找的列名：贷方发生额）",
        "line 2, field 贷方发生额: required column is missing from the header (looked for 贷方发生额)",
    ),
    (
        "bank csv",
        "warning",
        lambda ch, acct: _bank_csv(ch, acct, footer_amount="300.60"),
        "generic.control_amount_mismatch",
        "第 5 行，字段 control_totals：控制合计金额为 300.60，明细行合计为 300.50",
        "line 5, field control_totals: control total amount declares 300.60, parsed rows give 300.50",
    ),
    (
        "intake",
        "error",
        lambda ch, acct: take_in(ch, _camt("NL91ABNA0417164300", ["5.00"], ["BOOK"])),
        "intake.not_the_channels_account",
        "字段 Acct：该对账单属于账户 NL91ABNA0417164300，它不是通道 TESTCH 的银行账户",
        "field Acct: the statement is of account NL91ABNA0417164300, which is not one of channel TESTCH's bank accounts",
    ),
    (
        "intake",
        "warning",
        lambda ch, acct: take_in(ch, _camt(acct.account_no, [], [])),
        "intake.quiet_day",
        "没有流水：对账单只列出余额（当天无交易）",
        "no movements: the statement states its balances only (a quiet day)",
    ),
]


@pytest.fixture
def core(db):
    user = get_user_model().objects.create_user(username="core")
    user.groups.add(Group.objects.get(name="payment_core"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(user)}")
    return client


def _page(client, name: str, statement_file: StatementFile, language: str) -> str:
    url = (
        reverse(f"reconciliation:{name}", args=[statement_file.pk])
        if name != "statement_list"
        else reverse("reconciliation:statement_list")
    )
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize(("family", "made", "make", "code", "zh", "en"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_each_family_refusal_and_warning_read_in_both_languages(
    family, made, make, code, zh, en, channel, reserve_account, clerk, client, core
):
    statement_file = make(channel, reserve_account)
    stored = statement_file.errors if made == "error" else statement_file.warnings
    assert statement_file.status == ("FAILED" if made == "error" else "PARSED"), statement_file.errors
    assert code in [problem["code"] for problem in stored]
    client.force_login(clerk)
    for language, words, other in (("zh-CN", zh, en), ("en", en, zh)):
        detail = _page(client, "statement_detail", statement_file, language)
        assert words in detail and other not in detail
        if made == "error":
            assert words in _page(client, "statement_progress", statement_file, language)
            listed = _page(client, "statement_list", statement_file, language)
            assert words[:60] in listed
        body = core.get(f"/api/statements/{statement_file.pk}/", HTTP_ACCEPT_LANGUAGE=language).json()
        shown = body["errors" if made == "error" else "warnings"]
        (problem,) = [p for p in shown if p["code"] == code]
        assert set(problem) == {"line", "field", "reason", "code", "params"}
        with translation.override(language):
            assert words in located(problem["reason"], line=problem["line"], field=problem["field"])
        assert "第 None 行" not in detail and "line None" not in detail and "第  行" not in detail


@pytest.mark.django_db
def test_a_refused_file_shows_its_warnings_with_the_error_in_both_languages(channel, reserve_account, clerk, client):
    statement_file = take_in(
        channel, _camt(reserve_account.account_no, ["5.00", "2.00", "3.00"], ["BOOK", "PDNG", "PDNG"], "510.00")
    )
    assert statement_file.status == "FAILED" and len(statement_file.warnings) == 3
    client.force_login(clerk)
    zh = _page(client, "statement_detail", statement_file, "zh-CN")
    assert "文件被拒收的原因" in zh and "警告" in zh and "以下警告是在拒收之前读取文件时发现的" in zh
    assert "第 2 行，字段 Sts：状态为 PDNG 的条目已跳过：未入账" in zh
    assert "字段 Ntry/Sts：账户 6222000011112222 的对账单：2 个条目因未入账而跳过（状态 PDNG: 2）（条目 2, 3）" in zh
    en = _page(client, "statement_detail", statement_file, "en")
    assert (
        "field Ntry/Sts: statement of account 6222000011112222: 2 entries skipped as not booked (status PDNG: 2) (entries 2, 3)"
        in en
    )
    assert "3 条警告" in _page(client, "statement_progress", statement_file, "zh-CN")


@pytest.mark.django_db
def test_a_problem_of_the_whole_file_shows_no_line_in_either_language(channel, clerk, client):
    statement_file = take_in(channel, wechat_bill(wechat_rows(1)), statement_date=DAY)
    StatementFile.objects.filter(pk=statement_file.pk).update(
        status="FAILED", errors=[problem_json(Message(IntakeCode.NO_LINES))], warnings=[]
    )
    statement_file.refresh_from_db()
    client.force_login(clerk)
    for language, words in (("zh-CN", "<li>该文件没有对账单明细</li>"), ("en", "<li>the file holds no statement lines</li>")):
        page = _page(client, "statement_detail", statement_file, language)
        assert words in page
        assert "第  行" not in page and "line :" not in page and "line None" not in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "code", "zh", "en"),
    [
        (
            (FIXTURES / "wechat_personal_bill.csv").read_bytes(),
            "file.personal_wechat_bill",
            "这是微信支付的个人账单",
            "this is a personal WeChat Pay bill",
        ),
        ("记账日期,金额\n".encode("utf-16"), "text.utf16", "文件是 UTF-16 文本", "the file is UTF-16 text"),
    ],
    ids=["personal bill", "utf-16"],
)
def test_a_file_refused_as_it_is_received_reads_in_both_languages(channel, clerk, client, core, data, code, zh, en):
    for language, words in (("zh-CN", zh), ("en", en)):
        upload = io.BytesIO(data)
        upload.name = "bill.csv"
        response = core.post(
            "/api/statements/", {"file": upload, "channel": "TESTCH"}, format="multipart", HTTP_ACCEPT_LANGUAGE=language
        )
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == code and isinstance(body["params"], dict) and words in body["detail"]
        assert body["detail"].startswith("bill.csv: ")
        upload.seek(0)
        client.force_login(clerk)
        page = client.post(
            reverse("reconciliation:statement_upload"),
            {"channel": channel.pk, "files": upload},
            HTTP_ACCEPT_LANGUAGE=language,
        )
        assert words in html.unescape(page.content.decode())
    assert not StatementFile.objects.exists()


@pytest.mark.django_db
def test_the_schema_describes_the_problems_of_a_file(core):
    schema = core.get("/api/schema/", {"format": "json"}).json()
    problem = schema["components"]["schemas"]["StatementProblem"]["properties"]
    assert set(problem) == {"line", "field", "reason", "code", "params"}
    assert problem["line"].get("nullable") is True
    refusal = schema["paths"]["/api/statements/"]["post"]["responses"]["400"]["content"]["application/json"]["schema"]
    assert {"detail", "line", "field", "code", "params"} <= set(refusal["properties"])


def test_the_progress_fragment_shows_a_refusal_without_an_empty_line():
    statement_file = StatementFile(pk=1, status="FAILED", errors=[problem_json(Message(IntakeCode.NO_LINES))], warnings=[])
    for language, words in (("zh-hans", "该文件没有对账单明细"), ("en", "the file holds no statement lines")):
        with translation.override(language):
            fragment = render_to_string("reconciliation/_statement_progress.html", {"f": statement_file})
        assert f'<span class="error-text">{words}</span>' in fragment


@pytest.mark.django_db
def test_a_bare_zm_file_through_the_intake_reads_each_record_once(channel):
    statement_file = take_in(channel, render(write_unionpay_zm, _zm_rows()), statement_date=DAY)
    assert (statement_file.status, statement_file.line_count) == ("PARSED", 2)
    assert [w["code"] for w in statement_file.warnings] == ["unionpay.no_file_date"]


@pytest.mark.django_db
def test_a_format_configuration_the_admin_cannot_use_is_explained_in_their_language(channel):
    from django.utils import translation

    from reconciliation.admin.config import StatementFormatForm

    data = {
        "channel": channel.pk,
        "kind": "FUND",
        "format_code": "GENERIC",
        "name": "bank csv",
        "encoding": "",
        "config": '{"kind": "fund", "file_type": "csv", "columns": "not a mapping"}',
    }
    for language in ("en", "zh-hans"):
        with translation.override(language):
            form = StatementFormatForm(data=data)
            assert not form.is_valid()
            text = " ".join(form.errors["config"])
            assert "columns" in text
            if language == "zh-hans":
                assert any("\u4e00" <= ch <= "\u9fff" for ch in text.split("columns", 1)[1]), text  # the reason in Chinese
