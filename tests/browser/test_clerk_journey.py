"""The clerk's day in the browser: upload, reconcile, propose 补单, a checker approves, export."""

import csv
import io
import time

import pytest
from helpers import local_dt, wechat_bill, wechat_rows

from reconciliation.models import Discrepancy, PlatformTransaction, ReconciliationRun

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def _ours(channel, row, status):
    at = local_dt(2026, 11, 24, 10, 0)
    PlatformTransaction.objects.create(
        txn_no=row.txn_no,
        channel=channel,
        business_type="COLLECTION",
        amount=row.amount,
        currency="CNY",
        status=status,
        created_at=at,
        business_date=at.date(),
        received_at=at,
        updated_at=at,
    )


def _wait(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_clerk_proposes_a_supplement_a_checker_approves_it(
    login_page, live_server, celery_worker, clerk, checker, channel, tmp_path
):
    rows = wechat_rows(5)
    _ours(channel, rows[0], "UNKNOWN")  # timed out on our side; the channel's file says success
    for row in rows[1:]:
        _ours(channel, row, "SUCCESS")
    bill = tmp_path / "wx.csv"
    bill.write_bytes(wechat_bill(rows))

    page = login_page(clerk)
    page.goto(f"{live_server.url}/statements/upload/")
    page.select_option("select[name=channel]", label=str(channel))
    page.set_input_files("input[type=file]", str(bill))
    page.click("form.upload-form button[type=submit]")
    page.wait_for_selector("#upload-results progress")
    page.wait_for_selector("#upload-results .badge-parsed", timeout=60000)
    _wait(
        lambda: (
            not ReconciliationRun.objects.filter(status__in=("PENDING", "RUNNING")).exists()
            and ReconciliationRun.objects.exists()
        ),
        "the run the file started",
    )

    # The clerk reconciles the date again from the runs screen and watches it finish.
    page.goto(f"{live_server.url}/runs/")
    page.select_option("form.start-run select[name=channel]", label=str(channel))
    page.fill("form.start-run input[name=business_date]", "2026-11-24")
    page.click("form.start-run button[type=submit]")
    page.wait_for_selector("#run-progress .badge-succeeded", timeout=60000)
    assert "Status mismatch" in page.inner_text("main")

    d = Discrepancy.objects.get(type="STATUS_MISMATCH")
    page.goto(f"{live_server.url}/discrepancies/?type=STATUS_MISMATCH")
    page.click(f"a[href='/discrepancies/{d.pk}/']")
    assert "Supplement" in page.inner_text(".suggestion")
    page.select_option("#propose-form select[name=action]", "SUPPLEMENT")
    page.fill("#propose-form textarea[name=reason]", "The channel's file confirms success; supplement our order.")
    page.click("#propose-form button[type=submit]")
    assert "Proposed" in page.inner_text(".messages")
    # The same clerk cannot approve: no decision form, only the reminder.
    assert page.query_selector("form.decide") is None
    assert "another person approves it" in page.inner_text(".proposal")

    checker_page = login_page(checker)
    checker_page.goto(f"{live_server.url}/approvals/")
    checker_page.click(f"a[href='/discrepancies/{d.pk}/']")
    checker_page.fill("form.decide textarea[name=comment]", "Checked against the file.")
    checker_page.click("form.decide button.primary")
    assert "Approved and executed" in checker_page.inner_text(".messages")
    assert "Resolved" in checker_page.inner_text(".page-head")

    d.refresh_from_db()
    ours = PlatformTransaction.objects.get(txn_no=rows[0].txn_no)
    assert (d.state, d.closed_as) == ("RESOLVED", "SUPPLEMENTED")
    assert ours.status == "SUCCESS" and ours.source_line == d.statement_line
    assert ours.channel_txn_no == rows[0].channel_txn_no

    # The queue exports to a spreadsheet that opens.
    page.goto(f"{live_server.url}/discrepancies/?state=RESOLVED")
    with page.expect_download() as download_info:
        page.click("a.export-csv")
    path = download_info.value.path()
    exported = list(csv.DictReader(io.StringIO(open(path, encoding="utf-8-sig").read())))
    assert any(str(d.pk) in row.values() for row in exported)
