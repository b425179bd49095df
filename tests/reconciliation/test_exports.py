"""Exports of the discrepancy queue, the workflow audit trail and the runs report: CSV and XLSX open,
hold the filtered rows, keep amounts numeric, neutralise formulas, mask personal data, need permission."""

import csv
import io
from datetime import date
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone
from helpers import local_dt
from helpers import stored_discrepancy as discrepancy
from helpers import stored_run as run
from openpyxl import load_workbook

from reconciliation.models import PlatformTransaction, WorkflowEvent

D = date(2026, 11, 24)
FORMULA = '=HYPERLINK("http://evil.example","x")'
_serial = count(1)


def txn(channel, txn_no, amount, **fields):
    at = local_dt(D.year, D.month, D.day, 12, 0)
    return PlatformTransaction.objects.create(
        txn_no=txn_no,
        channel=channel,
        business_type="PAYOUT",
        amount=Decimal(amount),
        currency="CNY",
        status="SUCCESS",
        created_at=at,
        business_date=D,
        received_at=at,
        updated_at=at,
        **fields,
    )


def event(item, actor, reason="", at=None, **fields):
    return WorkflowEvent.objects.create(
        discrepancy=item,
        kind="NOTE",
        actor=actor,
        at=at or local_dt(2026, 11, 25, 9, 30),
        source="10.0.0.7",
        reason=reason,
        **fields,
    )


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeff".encode()), "a byte-order mark, so Excel reads UTF-8"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[list]:
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    return [list(row) for row in sheet.iter_rows()]


def column(rows, header):
    return rows[0].index(header)


@pytest.fixture
def queue(channel, make_channel, clerk):
    """Two discrepancies of TESTCH (one with a formula in its match key, one a payout to a person's
    account) and one of another channel."""
    payout = txn(channel, "PO-1", "1500.00", counterparty_account="6222020000001111")
    return {
        "formula": discrepancy(channel, "12.30", match_key=FORMULA, type="BANK_ONLY", assigned_to=clerk),
        "payout": discrepancy(channel, "-1500.00", platform_txn=payout, platform_amount=Decimal("1500.00")),
        "other": discrepancy(make_channel("OTHER"), "7.00"),
    }


@pytest.mark.django_db
def test_queue_csv_holds_the_filtered_rows_with_plain_amounts_and_neutralised_text(client, clerk, channel, queue):
    client.force_login(clerk)

    response = client.get("/discrepancies/export.csv", {"channel": channel.pk, "sort": "date"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="discrepancies-{timezone.localdate():%Y-%m-%d}.csv"' in response["Content-Disposition"]
    rows = csv_rows(response)
    by_id = {row[0]: row for row in rows[1:]}
    assert set(by_id) == {str(queue["formula"].pk), str(queue["payout"].pk)}
    formula = by_id[str(queue["formula"].pk)]
    assert formula[column(rows, "Match key")] == "'" + FORMULA
    assert formula[column(rows, "Effect")] == "12.30"
    assert formula[column(rows, "Type")] == "Bank only" and formula[column(rows, "State")] == "Open"
    assert formula[column(rows, "Assigned to")] == clerk.username
    assert formula[column(rows, "Age (days)")] == str((timezone.localdate() - D).days)
    payout = by_id[str(queue["payout"].pk)]
    assert payout[column(rows, "Effect")] == "-1500.00"  # a number, not neutralised text
    assert payout[column(rows, "Our transaction")] == "PO-1"
    assert payout[column(rows, "Counterparty account")] == "************1111"


@pytest.mark.django_db
def test_queue_xlsx_keeps_amounts_numeric_and_formulas_inert(client, clerk, channel, queue):
    client.force_login(clerk)

    response = client.get("/discrepancies/export.xlsx", {"channel": channel.pk, "type": "BANK_ONLY"})

    assert response.status_code == 200
    assert f'filename="discrepancies-{timezone.localdate():%Y-%m-%d}.xlsx"' in response["Content-Disposition"]
    rows = xlsx_rows(response)
    headers = [cell.value for cell in rows[0]]
    assert len(rows) == 2
    row = {header: cell for header, cell in zip(headers, rows[1], strict=True)}
    assert row["ID"].value == queue["formula"].pk
    assert row["Match key"].value == "'" + FORMULA and row["Match key"].data_type == "s"
    assert row["Effect"].data_type == "n" and Decimal(str(row["Effect"].value)) == Decimal("12.30")
    assert row["Effect"].number_format == "#,##0.00"
    assert row["Business date"].value.date() == D


@pytest.mark.django_db
def test_personal_data_is_shown_only_to_users_allowed_to_see_it(client, admin_staff, channel, queue):
    client.force_login(admin_staff)

    rows = xlsx_rows(client.get("/discrepancies/export.xlsx", {"channel": channel.pk, "type": "PLATFORM_ONLY"}))

    headers = [cell.value for cell in rows[0]]
    assert rows[1][headers.index("Counterparty account")].value == "6222020000001111"


@pytest.mark.django_db
def test_an_invalid_filter_exports_nothing(client, clerk, queue):
    client.force_login(clerk)

    response = client.get("/discrepancies/export.csv", {"date_from": "yesterday"})

    assert response.status_code == 400
    assert "date_from" in response.content.decode()


@pytest.mark.django_db
def test_the_auditor_downloads_the_audit_trail_filtered_and_neutralised(client, auditor, checker, channel, queue):
    item, other = queue["formula"], queue["payout"]
    event(item, checker, reason=FORMULA, before={"state": "OPEN"}, after={"state": "PROPOSED", "amount": "12.30"})
    event(item, None, reason="matched later\x07", at=local_dt(2026, 11, 27, 8, 0))  # a control character XLSX refuses
    event(other, checker, reason="not this one")
    client.force_login(auditor)

    rows = csv_rows(client.get("/audit/export.csv", {"discrepancy": item.pk, "date_to": "2026-11-25"}))
    sheet = xlsx_rows(client.get("/audit/export.xlsx", {"discrepancy": item.pk, "date_from": "2026-11-25"}))

    assert rows[0] == ["Time", "Discrepancy", "Resolution", "Step", "Done by", "Source", "Reason or comment", "Before", "After"]
    assert rows[1:] == [
        [
            "2026-11-25 09:30:00",
            str(item.pk),
            "",
            "Note",
            checker.username,
            "10.0.0.7",
            "'" + FORMULA,
            '{"state":"OPEN"}',
            '{"amount":"12.30","state":"PROPOSED"}',
        ]
    ]
    assert [[cell.value for cell in row][:5] for row in sheet[1:]] == [
        [local_dt(2026, 11, 25, 9, 30).replace(tzinfo=None), item.pk, None, "Note", checker.username],
        [local_dt(2026, 11, 27, 8, 0).replace(tzinfo=None), item.pk, None, "Note", None],
    ]
    assert sheet[1][6].value == "'" + FORMULA and sheet[2][6].value == "matched later"


@pytest.mark.django_db
def test_runs_report_has_counts_and_numeric_totals(client, clerk, channel, make_channel):
    outcomes = {
        "MATCHED": {"count": 40, "amount": "400.00"},
        "MATCHED_CROSS_DAY": {"count": 2, "amount": "20.00"},
        "BANK_ONLY": {"count": 3, "amount": "30.00", "overage": "30.00", "shortage": "0"},
        "PLATFORM_ONLY": {"count": 1, "amount": "5.50", "overage": "0", "shortage": "-5.50"},
    }
    done = run(channel, outcomes=outcomes, overage="30.00", shortage="-5.50")
    run(make_channel("OTHER"))
    client.force_login(clerk)

    rows = csv_rows(client.get("/runs/export.csv", {"channel": channel.pk}))
    sheet = xlsx_rows(client.get("/runs/export.xlsx", {"channel": channel.pk}))

    assert rows[0][:10] == [
        "Run",
        "Channel",
        "Business date",
        "Status",
        "Trigger",
        "Staff user",
        "Matched",
        "Discrepancies",
        "Overage",
        "Shortage",
    ]
    assert rows[1][:11] == [str(done.pk), "TESTCH", "2026-11-24", "Done", "Command line", "", "42", "4", "30.00", "-5.50", "CNY"]
    assert len(rows) == 2 and len(sheet) == 2
    shortage = sheet[1][9]
    assert shortage.data_type == "n" and Decimal(str(shortage.value)) == Decimal("-5.50")
    assert sheet[1][6].value == 42


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/discrepancies/export.csv",
        "/discrepancies/export.xlsx",
        "/audit/export.csv",
        "/audit/export.xlsx",
        "/runs/export.csv",
        "/runs/export.xlsx",
    ],
)
def test_a_user_without_the_view_permission_gets_403(client, django_user_model, url):
    user = django_user_model.objects.create_user(username="nobody", password="pw-for-tests-1", is_staff=True)
    client.force_login(user)

    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_every_staff_role_may_read_the_audit_trail(make_staff):
    from backoffice.core.roles import ADMIN, AUDITOR, CHECKER, CLERK

    assert all(make_staff(role).has_perm("reconciliation.view_workflowevent") for role in (CLERK, CHECKER, ADMIN, AUDITOR))
