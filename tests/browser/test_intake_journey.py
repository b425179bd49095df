"""A clerk uploads a statement in the browser, watches it parse, and finds the reconciliation it started."""

from decimal import Decimal

import pytest
from helpers import local_dt, wechat_bill, wechat_rows

from reconciliation.models import PlatformTransaction, ReconciliationRun, StatementFile

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_upload_shows_live_progress_and_starts_the_run(
    login_page, live_server, celery_worker, clerk, channel, make_fee_model, tmp_path
):
    make_fee_model(channel, business_type="COLLECTION", rate=Decimal("0.006"))  # the channel's 0.6% on payments
    rows = wechat_rows(20000)
    for row in rows[:3]:  # three of ours; the channel lists 20,000: the rest are bank-only
        at = local_dt(2026, 11, 24, 10, 0)
        PlatformTransaction.objects.create(
            txn_no=row.txn_no,
            channel=channel,
            business_type="COLLECTION",
            amount=row.amount,
            currency="CNY",
            status="SUCCESS",
            created_at=at,
            business_date=at.date(),
            received_at=at,
            updated_at=at,
        )
    bill = tmp_path / "wx_20261124.csv"
    bill.write_bytes(wechat_bill(rows))

    page = login_page(clerk)
    page.goto(f"{live_server.url}/statements/upload/")
    page.select_option("select[name=channel]", label=str(channel))
    page.set_input_files("input[type=file]", str(bill))
    assert "wx_20261124.csv" in page.inner_text("#chosen-files")
    page.click("form.upload-form button[type=submit]")

    # The file's row appears with a progress bar that polls until the worker has parsed it.
    page.wait_for_selector("#upload-results progress")
    page.wait_for_selector("#upload-results .badge-parsed", timeout=120000)
    statement_file = StatementFile.objects.get()
    assert statement_file.status == "PARSED" and statement_file.line_count == 20000
    assert "20,000 lines" in page.inner_text("#upload-results")

    # Parsing a business-detail file started its date's reconciliation on the worker.
    page.goto(f"{live_server.url}/runs/")
    run = _wait_for_run(channel)
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    page.wait_for_selector("#run-progress .badge-succeeded", timeout=60000)
    assert "Bank only" in page.inner_text("main")
    assert run.counts["outcomes"]["MATCHED"]["count"] == 3


def _wait_for_run(channel, timeout: float = 60.0) -> ReconciliationRun:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = ReconciliationRun.objects.filter(channel=channel, status="SUCCEEDED").first()
        if run:
            return run
        time.sleep(0.5)
    raise AssertionError(f"no finished run: {list(ReconciliationRun.objects.values('status', 'error'))}")
