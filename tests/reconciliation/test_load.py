"""Load, played for real: 20 statement files uploaded at once through the API to a real HTTP server, parsed
by a Celery worker process with four threads on the real Redis broker, each starting its date's run; then
5 runs requested at once on 5 channels. Afterwards every file holds exactly its lines, no line is there
twice, every channel-day's latest run succeeded with the counts its data implies, nothing is left pending
and no request was answered with a server error.

The speed of the discrepancy queue under load is a benchmark, not a test: ``manage.py bench_queue``
(docs/benchmarks.md).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from django.db.models import Count
from helpers import api_key_for, txn, wechat_bill, wechat_rows
from workers import REDIS, WorkerProcess, wait_for, worker_process

from backoffice.models import OutboxJob
from reconciliation.models import (
    ACTIVE_RUN_STATUSES,
    Discrepancy,
    DiscrepancyState,
    ReconciliationRun,
    RunStatus,
    StatementFile,
    StatementLine,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not REDIS, reason="needs a real Redis broker (TEST_REDIS_URL)"),
]

CHANNELS = ("LOADA", "LOADB", "LOADC", "LOADD", "LOADE")
# One file per channel and date, the dates a week apart: each file starts one run of its own date, and no
# item of one date is in the carry-over window (2 business days) of another.
DAYS = tuple(date(2026, 11, 2) + timedelta(weeks=k) for k in range(4))
LINES = 40  # per file: 38 match, 1 differs in amount, 1 is the channel's alone; plus 1 of ours alone
EXPECTED_OUTCOMES = {"MATCHED": LINES - 2, "AMOUNT_MISMATCH": 1, "BANK_ONLY": 1, "PLATFORM_ONLY": 1}
SETTLE_SECONDS = 120  # the bound on every wait; the test itself takes 6-7 s


@pytest.fixture
def worker(tmp_path):
    # Four threads, so that parses and runs really overlap.
    with worker_process(tmp_path, pool="threads", concurrency=4) as process:
        yield process


def _wait_for(predicate, *, what: str, worker: WorkerProcess, seconds: float = SETTLE_SECONDS) -> None:
    wait_for(predicate, what=what, worker=worker, seconds=seconds)


def _post(url: str, *, key: str, body: bytes, content_type: str) -> tuple[int, dict]:
    request = Request(url, data=body, method="POST", headers={"Authorization": f"Token {key}", "Content-Type": content_type})
    try:
        with urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except HTTPError as exc:  # 4xx/5xx: the status is what the test looks at
        text = exc.read()
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, {"body": text[:500].decode(errors="replace")}


def _multipart(fields: dict[str, str], *, file_name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _day_of(channel, day: date, first: int) -> bytes:
    """The channel's bill of ``day``: LINES collections P<first>… of 6.00 CNY, and our records for it: all but
    the last line, one of them with another amount, and one record of ours the bill does not list."""
    rows = wechat_rows(LINES, start=first, day=(day.year, day.month, day.day))
    for n, row in enumerate(rows[:-1]):
        amount = "7.00" if n == 0 else "6.00"
        txn(channel, row.txn_no, amount, day=day, channel_txn_no=row.channel_txn_no, fee=Decimal("0.04"))
    txn(channel, f"Q{first:08d}", "6.00", day=day, fee=Decimal("0.04"))
    return wechat_bill(rows)


def _outcomes(run: ReconciliationRun) -> dict[str, int]:
    return {outcome: v["count"] for outcome, v in run.counts["outcomes"].items()}


def test_twenty_uploads_and_five_runs_at_once(make_channel, make_fee_model, clerk, worker, live_server):
    started = time.monotonic()
    channels = {code: make_channel(code) for code in CHANNELS}
    for channel in channels.values():
        make_fee_model(channel)  # 0.6 % half-up: 0.04 on 6.00, as the bills charge
    key = api_key_for(clerk)
    uploads = []
    for c, code in enumerate(CHANNELS):
        for k, day in enumerate(DAYS):
            bill = _day_of(channels[code], day, first=1 + 1000 * (c * len(DAYS) + k))
            uploads.append(
                (code, day, _multipart({"channel": code, "kind": "BUSINESS"}, file_name=f"{code}-{day}.csv", content=bill))
            )
    answers: list[tuple[int, dict]] = []

    # Act 1: every upload at once, one thread each.
    def upload(item):
        code, day, (body, content_type) = item
        return _post(f"{live_server.url}/api/statements/", key=key, body=body, content_type=content_type)

    with ThreadPoolExecutor(max_workers=len(uploads)) as pool:
        received = list(pool.map(upload, uploads))
    answers += received
    assert [status for status, _ in received] == [201] * len(uploads), received
    file_ids = [body["id"] for _, body in received]

    def files_done() -> bool:
        return not StatementFile.objects.filter(pk__in=file_ids).exclude(status__in=["PARSED", "FAILED"]).exists()

    _wait_for(files_done, what="the 20 files to be parsed", worker=worker)

    # Each parsed file started its date's run (trigger FILE). Wait for them before asking for more: a run
    # requested while the file's own RUN_START is still queued would make that task wait 30 s and retry.
    def file_runs_done() -> bool:
        runs = ReconciliationRun.objects.filter(channel__code__in=CHANNELS)
        finished = set(runs.exclude(status__in=ACTIVE_RUN_STATUSES).values_list("channel__code", "business_date"))
        return len(finished) == len(uploads) and not runs.filter(status__in=ACTIVE_RUN_STATUSES).exists()

    _wait_for(file_runs_done, what="the runs the files started", worker=worker)

    # Act 2: five runs at once, each on another channel (and date).
    requests = [(code, DAYS[c % len(DAYS)]) for c, code in enumerate(CHANNELS)]

    def request_run(item):
        code, day = item
        body = json.dumps({"channel": code, "business_date": day.isoformat()}).encode()
        return _post(f"{live_server.url}/api/runs/", key=key, body=body, content_type="application/json")

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        requested = list(pool.map(request_run, requests))
    answers += requested
    # 409 ("a run is active") would be a correct answer too; here every earlier run has finished.
    assert all(status in (202, 409) for status, _ in requested), requested
    run_ids = [body["id"] for status, body in requested if status == 202]

    def requested_runs_done() -> bool:
        return not ReconciliationRun.objects.filter(channel__code__in=CHANNELS, status__in=ACTIVE_RUN_STATUSES).exists()

    _wait_for(requested_runs_done, what="the 5 requested runs", worker=worker)

    # Assert: no server error, every file parsed with exactly its lines, no line twice.
    assert not [answer for answer in answers if answer[0] >= 500], answers
    files = StatementFile.objects.filter(pk__in=file_ids)
    assert Counter(files.values_list("status", flat=True)) == {"PARSED": len(uploads)}, list(files.values("id", "errors"))
    lines_per_file = dict(files.annotate(n=Count("lines")).values_list("id", "n"))
    assert lines_per_file == dict.fromkeys(file_ids, LINES)
    assert set(files.values_list("line_count", flat=True)) == {LINES}
    twice = (
        StatementLine.objects.filter(channel__code__in=CHANNELS)
        .values("channel", "txn_no")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not twice.exists(), list(twice)
    assert StatementLine.objects.filter(channel__code__in=CHANNELS).count() == len(uploads) * LINES

    # Every channel-day's latest run succeeded with what its data implies; the requested ones ran again.
    runs = ReconciliationRun.objects.filter(channel__code__in=CHANNELS)
    assert not runs.filter(status__in=ACTIVE_RUN_STATUSES).exists()
    for code in CHANNELS:
        for day in DAYS:
            latest = runs.filter(channel__code=code, business_date=day).order_by("-created_at", "-id").first()
            assert latest is not None, (code, day)
            assert latest.status == RunStatus.SUCCEEDED, (code, day, latest.error)
            assert _outcomes(latest) == EXPECTED_OUTCOMES, (code, day, latest.counts)
            # The channel's line alone: +6.00; ours alone (-6.00) and 7.00 booked for 6.00 paid (-1.00).
            assert (Decimal(latest.counts["overage"]), Decimal(latest.counts["shortage"])) == (Decimal(6), Decimal(-7))
    assert runs.count() == len(uploads) + len(run_ids)
    assert set(runs.filter(pk__in=run_ids).values_list("status", flat=True)) <= {RunStatus.SUCCEEDED}
    # Re-runs reclassify in place: each channel-day still has its three live discrepancies, once each.
    live = Discrepancy.objects.filter(channel__code__in=CHANNELS).exclude(state=DiscrepancyState.RESOLVED)
    assert Counter(live.values_list("channel__code", "business_date")) == {(c, d): 3 for c in CHANNELS for d in DAYS}
    assert max(Counter(live.values_list("channel", "type", "match_key")).values()) == 1
    # Nothing is left in the outbox: every job was handed to the broker.
    assert not OutboxJob.objects.filter(sent_at__isnull=True).exists()
    assert time.monotonic() - started < SETTLE_SECONDS
