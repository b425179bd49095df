"""camt.053 as banks send it: zipped, quiet days, entries without a status, skipped entries, UTC dates."""

import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from reconciliation import parsers
from reconciliation.parsers import camt053
from reconciliation.parsers.base import ArchiveLimits, ArchiveRefused, Direction, StatementParseError

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"


def entry(amount: str, indicator: str = "CRDT", *, status: str | None = "BOOK", booked: str = "2025-06-11", ref: str = "") -> str:
    """One Ntry; ``status`` None leaves Sts out, ``booked`` with a T is a date-time."""
    sts = "" if status is None else f"<Sts><Cd>{status}</Cd></Sts>"
    when = f"<DtTm>{booked}</DtTm>" if "T" in booked else f"<Dt>{booked}</Dt>"
    reference = f"<AcctSvcrRef>{ref}</AcctSvcrRef>" if ref else ""
    return (
        f'<Ntry><Amt Ccy="CNY">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>{sts}<BookgDt>{when}</BookgDt>{reference}</Ntry>'
    )


def stmt(entries: list[str], *, account: str = "6217000099990001", currency: str = "CNY", opening: str = "800.00",
         closing: str | None = None, other_id: bool = False, to: str = "2025-06-11T23:59:59+08:00") -> str:  # fmt: skip
    """One Stmt; ``closing`` defaults to opening + the booked entries' sum (computed by the caller's numbers)."""
    ident = f"<Othr><Id>{account}</Id></Othr>" if other_id else f"<IBAN>{account}</IBAN>"
    balances = f'<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">{opening}</Amt>'
    balances += "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2025-06-11</Dt></Dt></Bal>"
    if closing is not None:
        balances += f'<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">{closing}</Amt>'
        balances += "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2025-06-11</Dt></Dt></Bal>"
    return (
        f"<Stmt><Id>S-{account[-4:]}</Id><FrToDt><FrDtTm>2025-06-11T00:00:00+08:00</FrDtTm><ToDtTm>{to}</ToDtTm></FrToDt>"
        f"<Acct><Id>{ident}</Id><Ccy>{currency}</Ccy></Acct>{balances}{''.join(entries)}</Stmt>"
    )


def document(*statements: str, version: str = "08") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{NS.format(version=version)}"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>M-1</MsgId><CreDtTm>2025-06-12T01:00:00+08:00</CreDtTm></GrpHdr>"
        f"{''.join(statements)}</BkToCstmrStmt></Document>"
    ).encode()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def read(data: bytes, **options):
    statement = camt053.parse(data, **options)
    return statement, list(statement.rows)


# --- zipped camt ------------------------------------------------------------------------------------


def test_a_zipped_statement_reads_as_the_bare_one():
    bare = document(stmt([entry("15.50"), entry("4.25", "DBIT")], closing="811.25"))
    (statement, rows), (zipped_statement, zipped_rows) = read(bare), read(zipped({"stmt_0611.xml": bare}))
    assert zipped_rows == rows and len(rows) == 2
    assert zipped_statement.metadata.closing_balance == statement.metadata.closing_balance == Decimal("811.25")
    assert parsers.detect(zipped({"stmt_0611.xml": bare})) == ("CAMT053", "FUND", date(2025, 6, 11))


def test_several_xml_members_are_read_in_turn_with_entries_numbered_on():
    first = document(stmt([entry("1.00"), entry("2.00")], closing="803.00"))
    second = document(stmt([entry("3.00", ref="THIRD")], opening="803.00", closing="806.00"))
    data = zipped({"a.xml": first, "readme.txt": b"not a statement", "b.xml": second})
    statement, rows = read(data)
    assert [(r.source_line, r.amount) for r in rows] == [(1, Decimal("1.00")), (2, Decimal("2.00")), (3, Decimal("3.00"))]
    assert rows[2].bank_ref == "THIRD"
    assert statement.metadata.opening_balance == Decimal("800.00")
    assert statement.totals.count == 3


def test_an_archive_without_xml_is_refused_naming_its_members():
    with pytest.raises(StatementParseError, match="no XML member.*members: notes.txt"):
        camt053.parse(zipped({"notes.txt": b"hello"}))


def test_a_damaged_member_is_named_in_the_error():
    data = zipped({"good.xml": document(stmt([entry("1.00")], closing="801.00")), "bad.xml": b"<Document"})
    statement = camt053.parse(data)
    with pytest.raises(StatementParseError, match="ZIP member 'bad.xml': XML is not well-formed"):
        list(statement.rows)


def test_a_zipped_statement_is_held_to_the_archive_limits():
    padded = document(stmt([entry("1.00", ref="X" * 30)] * 2000, closing="2800.00"))
    with pytest.raises(ArchiveRefused):
        list(camt053.parse(zipped({"big.xml": padded}), archive_limits=ArchiveLimits(max_expanded_bytes=10_000)).rows)


# --- quiet days and statuses ----------------------------------------------------------------------------


def test_a_statement_without_entries_is_a_quiet_day():
    statement, rows = read(document(stmt([], opening="800.00", closing="800.00")))
    assert rows == [] and statement.warnings == []
    assert (statement.metadata.opening_balance, statement.metadata.closing_balance) == (Decimal("800.00"), Decimal("800.00"))
    assert statement.totals.count == 0


def test_a_quiet_statement_whose_balances_differ_is_still_checked():
    statement = camt053.parse(document(stmt([], opening="800.00", closing="790.00"), stmt([entry("1.00")], closing="801.00")))
    with pytest.raises(StatementParseError, match="declares 790.00 CNY"):
        list(statement.rows)


def test_entries_without_a_status_are_booked_with_one_warning_counting_them():
    data = document(stmt([entry("10.00", status=None), entry("5.00", status=None), entry("1.00")], closing="816.00"))
    statement, rows = read(data)
    assert [r.amount for r in rows] == [Decimal("10.00"), Decimal("5.00"), Decimal("1.00")]
    (warning,) = statement.warnings
    assert warning.line is None and warning.field == "Ntry/Sts"
    assert "2 entries have no status (Sts): taken as booked" in warning.message and "entries 1, 2" in warning.message


def test_a_balance_mismatch_says_how_many_entries_were_skipped_and_why():
    entries = [entry("100.00")] + [entry("7.00", status="PDNG")] * 5 + [entry("3.00", status="INFO")] * 2
    data = document(stmt(entries, closing="941.00"))  # as if the pending and information entries were booked
    with pytest.raises(StatementParseError) as caught:
        list(camt053.parse(data).rows)
    assert caught.value.field == "Bal/CLBD" and caught.value.line is None
    assert "declares 941.00 CNY" in caught.value.reason
    assert "7 entries skipped as not booked (status INFO: 2, PDNG: 5)" in caught.value.reason


def test_skipped_entries_are_counted_in_a_warning_when_the_balances_agree():
    entries = [entry("100.00"), entry("7.00", status="PDNG"), entry("3.00", status="PDNG")]
    statement, rows = read(document(stmt(entries, closing="900.00")))
    assert len(rows) == 1
    assert [w.line for w in statement.warnings[:2]] == [2, 3]  # each skipped entry, located
    summary = statement.warnings[-1]
    assert summary.line is None and "2 entries skipped as not booked (status PDNG: 2) (entries 2, 3)" in summary.message


def test_with_lenient_totals_the_mismatch_is_a_warning_naming_the_skipped_entries():
    entries = [entry("100.00"), entry("7.00", status="PDNG")]
    statement, rows = read(document(stmt(entries, closing="907.00")), strict_totals=False)
    assert len(rows) == 1
    assert any("1 entry skipped as not booked (status PDNG: 1)" in w.message for w in statement.warnings if w.field == "Bal/CLBD")


# --- dates ------------------------------------------------------------------------------------------------


def test_a_utc_booking_time_gives_the_local_date():
    late = entry("9.00", booked="2025-06-10T17:30:00Z")  # 01:30 on 11 June in Shanghai
    early = entry("1.00", booked="2025-06-11T03:00:00+00:00")
    statement, (first, second) = read(document(stmt([late, early], closing="810.00")), tz=ZoneInfo("Asia/Shanghai"))
    assert first.booking_date == date(2025, 6, 11)
    assert first.booked_at == datetime(2025, 6, 10, 17, 30, tzinfo=UTC)
    assert second.booking_date == date(2025, 6, 11)


def test_a_booking_time_with_the_banks_own_offset_keeps_its_date():
    (row,) = read(document(stmt([entry("2.00", booked="2025-06-10T23:30:00-05:00")], closing="802.00")))[1]
    assert row.booking_date == date(2025, 6, 10)
    assert row.booked_at.utcoffset() == timedelta(hours=-5)


def test_a_utc_period_end_dates_the_statement_in_local_time():
    data = document(stmt([entry("1.00")], closing="801.00", to="2025-06-11T15:59:59Z"))
    assert camt053.parse(data).metadata.statement_date == date(2025, 6, 11)
    assert parsers.detect(data).statement_date == date(2025, 6, 11)
    later = document(stmt([entry("1.00")], closing="801.00", to="2025-06-11T16:30:00Z"))
    assert parsers.detect(later).statement_date == date(2025, 6, 12)


# --- accounts ------------------------------------------------------------------------------------------------


def test_statement_accounts_lists_every_statement_even_a_quiet_one():
    data = document(
        stmt([], account="6217000099990001"),
        stmt([entry("1.00")], account="CN11BANK0000000002", closing="801.00"),
        stmt([entry("2.00", "DBIT")], account="0099887766", currency="USD", other_id=True, closing="798.00"),
    )
    assert camt053.statement_accounts(data) == [
        ("6217000099990001", "CNY"),
        ("CN11BANK0000000002", "CNY"),
        ("0099887766", "USD"),
    ]
    assert camt053.statement_accounts(zipped({"x.xml": data})) == camt053.statement_accounts(data)
    rows = list(camt053.parse(data).rows)
    assert [(r.account_ref, r.currency, r.direction) for r in rows] == [
        ("CN11BANK0000000002", "CNY", Direction.CREDIT),
        ("0099887766", "CNY", Direction.DEBIT),
    ]
