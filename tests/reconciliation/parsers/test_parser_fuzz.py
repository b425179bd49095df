"""Whatever arrives, every registered parser either reads it correctly or refuses it with a StatementParseError
that says why: random bytes, truncated files, a byte-order mark, NUL bytes, other encodings, lines of megabytes,
archives with '../' member names, XML entity bombs.
Never another exception (which would show a clerk a traceback instead of a reason)."""

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation import parsers
from reconciliation.parsers import FORMATS, GenericFormatConfig, StatementParseError
from reconciliation.parsers.base import Direction, FundMovementRow, LineStatus, LineType, StatementLineRow
from reconciliation.parsers.writers import render, write_generic_csv, write_unionpay_zip, write_wechat_fund

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = datetime(2024, 3, 5, 10, 30, 15, tzinfo=SHANGHAI)

GENERIC_CONFIG = GenericFormatConfig.from_dict(
    {
        "kind": "fund",
        "header_row": 1,
        "debit_credit": "signed",
        "columns": {"booking_date": "date", "amount": "amount", "bank_ref": "ref"},
    }
)
OPTIONS = {"GENERIC": {"config": GENERIC_CONFIG}}
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "statements"


def _samples() -> dict[str, bytes]:
    """One valid file of each format."""

    def fixture_bytes(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()

    amount, fee = Decimal("100.00"), Decimal("0.38")
    zm_row = StatementLineRow(
        0,
        "202403051030150000001",
        "UP-0001",
        LineType.COLLECTION,
        LineStatus.SUCCESS,
        amount,
        fee,
        "CNY",
        AT,
        None,
        type_code="S22",
    )
    fund_row = FundMovementRow(
        0, "", AT.date(), AT, None, Direction.CREDIT, Decimal("10.00"), Decimal("10.00"), "CNY", memo="交易"
    )
    return {
        "WECHAT_TRADE": fixture_bytes("wechat_trade_all.csv"),
        "WECHAT_FUND": render(write_wechat_fund, [fund_row]),
        "ALIPAY_TRADE": fixture_bytes("alipay_trade.csv"),
        "ALIPAY_ACCOUNT": fixture_bytes("alipay_account.csv"),
        "UNIONPAY_ZM": render(write_unionpay_zip, [zm_row], file_date=date(2024, 3, 5), error_lines=["S22 rejected 0001"]),
        "MT940": fixture_bytes("mt940_two_statements.sta"),
        "CAMT053": fixture_bytes("camt053_001_08_batch.xml"),
        "GENERIC": render(write_generic_csv, [fund_row], config=GENERIC_CONFIG),
    }


SAMPLES = _samples()


def _zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@st.composite
def mangled(draw, sample: bytes) -> bytes:
    """``sample`` damaged one way or another, or plain noise."""
    cut = draw(st.integers(0, len(sample)))
    how = draw(
        st.sampled_from(["noise", "truncated", "bom", "nul", "dotdot_zip", "truncated_zip", "flipped", "reencoded", "huge_line"])
    )
    if how == "noise":
        return draw(st.binary(max_size=600))
    if how == "truncated":
        return sample[:cut]
    if how == "bom":
        return b"\xef\xbb\xbf" + sample[:cut]
    if how == "nul":
        return sample[:cut] + b"\x00" * draw(st.integers(1, 8)) + sample[cut:]
    if how == "dotdot_zip":
        name = draw(st.sampled_from(["../", "../../etc/", "/tmp/", "a/../../"])) + draw(
            st.sampled_from(["INN24030588ZM_898110148160001", "x_业务明细.csv", "x_账务明细.csv", "bill.csv"])
        )
        return _zipped({name: sample})
    if how == "reencoded":  # the same text saved in another encoding than the format's
        encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "gb18030", "latin-1", "cp437", "utf-8-sig"]))
        return sample.decode("utf-8", errors="replace").encode(encoding, errors="replace")
    if how == "huge_line":  # one line of megabytes, no newline in it
        return sample[:cut] + draw(st.sampled_from([b"9", b"x", b",", b"\xe4\xb8\xad"])) * (2 << 20) + sample[cut:]
    if how == "truncated_zip":
        return _zipped({"INN24030588ZM_898110148160001": sample})[:cut]
    position = min(cut, len(sample) - 1)
    return sample[:position] + bytes([sample[position] ^ draw(st.integers(1, 255))]) + sample[position + 1 :]


def read_or_refuse(code: str, data: bytes) -> list | None:
    """The rows of a correct parse, or None for a refusal with a reason; any other exception fails."""
    try:
        statement = parsers.parse(code, data, **OPTIONS.get(code, {}))
        rows = list(statement.rows)
        statement.totals  # noqa: B018 (complete once the rows are read)
    except StatementParseError as exc:
        assert str(exc).strip(), "a refusal without a reason"
        return None
    for row in rows:
        assert isinstance(row.amount, Decimal) and row.amount >= 0
    return rows


@pytest.mark.parametrize("code", sorted(FORMATS))
def test_every_sample_parses(code):
    assert read_or_refuse(code, SAMPLES[code])


@pytest.mark.parametrize("code", sorted(FORMATS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_damaged_file_is_read_or_refused_with_a_reason(code, data):
    damaged = data.draw(mangled(SAMPLES[code]))
    read_or_refuse(code, damaged)
    try:
        parsers.detect(damaged)  # what intake runs first: recognised, not recognised, or refused with a reason
    except StatementParseError as exc:  # an archive refused, UTF-16 text, a personal bill
        assert str(exc).strip()


@pytest.mark.parametrize("code", sorted(FORMATS))
def test_an_archive_with_a_dotdot_member_is_refused_by_every_format(code):
    zipped = _zipped({"../INN24030588ZM_898110148160001": SAMPLES[code]})
    assert read_or_refuse(code, zipped) is None


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>&lol3;</BkToCstmrStmt></Document>"""


@pytest.mark.parametrize("code", sorted(FORMATS))
def test_an_xml_entity_bomb_is_refused_by_every_format(code):
    assert read_or_refuse(code, BILLION_LAUGHS) is None


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_damaged_file_is_imported_whole_or_not_at_all(wx, data):
    """Through intake and the database: a damaged WeChat bill is refused before it is stored, or stored and
    then parsed whole (every row it holds) or FAILED with none of its rows."""
    from django.db import transaction
    from django.utils import timezone

    from reconciliation.models import StatementFile, StatementLine
    from reconciliation.services.intake.statements import StatementRefused, statement_parse, statement_receive

    damaged = data.draw(mangled(SAMPLES["WECHAT_TRADE"]))
    savepoint = transaction.savepoint()
    try:
        try:
            received = statement_receive(
                channel=wx, content=io.BytesIO(damaged), original_name="bill.csv", source="UPLOAD", acting_user=None,
                now=timezone.now(), kind="BUSINESS",
            )  # fmt: skip
        except StatementRefused as exc:
            assert str(exc).strip()
            return
        try:
            statement_parse(statement_file=received, now=timezone.now(), reconcile=False)
        except StatementRefused as exc:
            assert str(exc).strip()
        received.refresh_from_db()
        stored = StatementLine.objects.filter(file=received).count()
        if received.status == StatementFile.Status.PARSED:
            assert stored == received.line_count == len(read_or_refuse("WECHAT_TRADE", damaged) or [])
        else:
            assert received.status == StatementFile.Status.FAILED and stored == 0 and received.errors
    finally:
        transaction.savepoint_rollback(savepoint)


def test_an_amount_of_a_thousand_digits_is_refused_without_repeating_it():
    from reconciliation.parsers.base import FieldError, parse_amount

    with pytest.raises(FieldError) as refused:
        parse_amount("9" * 1000 + ".00", "amount")
    assert "too long for an amount" in str(refused.value) and len(str(refused.value)) < 200
