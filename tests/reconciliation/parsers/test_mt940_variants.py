"""MT940 as banks actually write it: blank entry dates, whole amounts, 30 February, code pages, quiet days."""

from datetime import date
from decimal import Decimal

import pytest

from reconciliation import parsers
from reconciliation.parsers import mt940
from reconciliation.parsers.base import Direction, StatementParseError


def _statement(*lines: str, encoding: str = "ascii") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def _error(data: bytes, **options) -> StatementParseError:
    with pytest.raises(StatementParseError) as caught:
        list(mt940.parse(data, **options).rows)
    return caught.value


def test_cp1252_bank_file_with_blank_entry_dates_whole_amounts_and_30_february(fixture_bytes):
    statement = mt940.parse(fixture_bytes("mt940_cp1252_bank_variants.sta"))
    rows = list(statement.rows)

    rent, invoice, rounding = rows
    # :61:240230    D500… : four spaces for the entry date, no decimal comma, a day February lacks.
    assert (rent.value_date, rent.booking_date) == (date(2024, 2, 29), date(2024, 2, 29))
    assert (rent.direction, rent.amount) == (Direction.DEBIT, Decimal("500"))
    assert rent.bank_ref == "KTO-58-1"
    assert rent.memo == "Miete Februar Büro Köln\nHausverwaltung Müller & Söhne"
    assert invoice.memo == "Zahlung Rechnung 117 – Großhandel Weiß"  # an en dash: CP1252, not Latin-1
    assert (invoice.amount, invoice.business_ref) == (Decimal("1234.56"), "RE-2024-0117")
    assert (rounding.booking_date, rounding.amount, rounding.memo) == (date(2024, 2, 29), Decimal("10"), "Gutschrift €-Rundung")
    [warning] = statement.warnings
    assert (warning.line, warning.field) == (5, ":61: value date")
    assert "'240230'" in warning.message and "2024-02-29" in warning.message
    # The second statement of the file is a quiet day: balances only, equal, and no error.
    assert statement.totals.count == 3
    assert statement.metadata.closing_balance == Decimal("3244.56")
    assert statement.metadata.period_end == date(2024, 3, 1)


def test_metadata_names_every_statement_account_and_currency(fixture_bytes):
    statement = mt940.parse(fixture_bytes("mt940_cp1252_bank_variants.sta"))
    # Known when parse returns, before any row is read: the intake checks the file against the channel.
    assert statement.metadata.account_ref == "DE02700202700010108669"
    assert statement.currency == "EUR"
    assert [(s.line, s.account, s.currency) for s in statement.metadata.statements] == [
        (1, "DE02700202700010108669", "EUR"),
        (14, "DE02700202700010108669", "EUR"),
    ]
    assert statement.metadata.accounts == (("DE02700202700010108669", "EUR"),)

    data = fixture_bytes("mt940_cp437_dos_export.sta") + fixture_bytes("mt940_two_statements.sta")
    two = mt940.parse(data)
    assert two.metadata.accounts == (("10020030/0004711815", "CHF"), ("NL12TEST0123456789", "EUR"))
    # Without parsing: one pair per statement, as camt053.statement_accounts gives them.
    assert mt940.statement_accounts(data) == [
        ("10020030/0004711815", "CHF"),
        ("NL12TEST0123456789", "EUR"),
        ("NL12TEST0123456789", "EUR"),
    ]
    with pytest.raises(StatementParseError, match="no :20: tag"):
        mt940.statement_accounts(b"hello")


def test_cp437_dos_export_is_detected(fixture_bytes):
    statement = mt940.parse(fixture_bytes("mt940_cp437_dos_export.sta"))
    [row] = list(statement.rows)
    assert row.memo == "Überweisung Gebühr zurück Straßenbau Zürich"
    assert (row.amount, row.currency, row.account_ref) == (Decimal("300"), "CHF", "10020030/0004711815")
    assert statement.metadata.opening_balance == Decimal("-150.00")
    assert statement.warnings == []


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1", "cp1252"])
def test_encodings_are_detected(encoding):
    data = _statement(
        ":20:REF-7",
        ":25:FR7630006000011234567890189",
        ":60F:C240506EUR0,00",
        ":61:2405060506C42,50NTRFFAC-88",
        ":86:Société Générale - Crédit à préciser",
        ":62F:C240506EUR42,50",
        "-",
        encoding=encoding,
    )
    [row] = list(parsers.parse("MT940", data).rows)
    assert row.memo == "Société Générale - Crédit à préciser"


def test_an_explicit_encoding_overrides_detection(fixture_bytes):
    data = fixture_bytes("mt940_cp437_dos_export.sta")
    [row] = list(mt940.parse(data, encoding="cp850").rows)  # CP850 shares these letters with CP437
    assert row.memo == "Überweisung Gebühr zurück Straßenbau Zürich"
    [row] = list(mt940.parse(data, encoding="latin-1").rows)  # wrong, but what was asked for
    assert row.memo != "Überweisung Gebühr zurück Straßenbau Zürich"
    error = _error(data, encoding="utf-8")
    assert (error.line, "utf-8") == (6, "utf-8") and "encoding configured" in error.reason
    error = _error(data, encoding="klingon-8")
    assert error.field == "encoding" and "'klingon-8'" in error.reason


def test_a_file_of_quiet_days_is_valid():
    data = _statement(
        ":20:Q1",
        ":25:GB33BUKB20201555555555",
        ":28C:101/1",
        ":60F:D240507GBP12,00",
        ":62F:D240507GBP12,00",
        ":64:D240507GBP12,00",
        "-",
    )
    statement = mt940.parse(data)
    assert list(statement.rows) == []
    assert statement.totals.count == 0 and statement.warnings == []
    assert statement.metadata.closing_balance == Decimal("-12.00")
    assert statement.metadata.statements[0].currency == "GBP"


def test_a_quiet_day_whose_balances_differ_is_refused():
    data = _statement(":20:Q2", ":25:GB33BUKB20201555555555", ":60F:C240507GBP12,00", ":62F:C240507GBP13,00", "-")
    error = _error(data)
    assert (error.line, error.field) == (4, ":62F:") and "declares +13.00 GBP" in error.reason


def test_impossible_dates_and_amounts_are_still_refused():
    head = (":20:X", ":25:NL12TEST0123456789", ":60F:C240304EUR0,00")
    for movement, value in (("2402320305C1,00NTRFX", "240232"), ("2413050305C1,00NTRFX", "241305")):
        error = _error(_statement(*head, f":61:{movement}", ":62F:C240305EUR1,00", "-"))
        assert (error.line, error.field) == (4, ":61: value date") and value in error.reason
    error = _error(_statement(*head, ":61:2403050305C1,0,0NTRFX", ":62F:C240305EUR1,00", "-"))
    assert (error.line, error.field) == (4, ":61: amount")
    # An entry date of three spaces is no layout a bank writes.
    error = _error(_statement(*head, ":61:240305   C1,00NTRFX", ":62F:C240305EUR1,00", "-"))
    assert (error.line, error.field) == (4, ":61:")


def test_errors_name_the_statement_line_they_concern():
    error = _error(_statement(":20:A1", ":25:NL12TEST0123456789", ":28C:1", ":20:A2", "-"))
    assert (error.line, error.field) == (1, ":60F:") and "'A1'" in error.reason
    error = _error(
        _statement(
            ":20:A1", ":25:NL12", ":60F:C240304EUR0,00", ":20:A2", ":25:NL12", ":60F:C240304EUR0,00", ":62F:C240304EUR0,00"
        )
    )
    assert (error.line, error.field) == (4, ":62F:") and "'A1' (line 1)" in error.reason
    error = _error(_statement(":20:A1", ":25:NL12", ":60F:C240304EUR0,00", ":61:2403040304C1,00NTRFX"))
    assert (error.line, error.field) == (1, ":62F:") and "truncated" in error.reason


def test_utf16_is_refused_with_advice():
    error = _error(_statement(":20:X", ":25:NL12", ":60F:C240304EUR0,00", ":62F:C240304EUR0,00", encoding="utf-16"))
    assert error.line == 1 and "UTF-16" in error.reason
