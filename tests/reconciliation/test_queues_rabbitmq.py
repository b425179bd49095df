"""Two channels' days reconciled at once on a real RabbitMQ broker, by real worker processes consuming the
queues they are routed to (a pool for ``intake``, a pool of two processes for ``reconciliation``), give exactly
the results of the same two days run one after the other.

Each test run names its queues apart (a prefix of its own, deleted afterwards), so test runs sharing one
RabbitMQ never take each other's jobs. CI exports TEST_AMQP_URL and the test fails when the broker cannot be
reached; without it the local default is tried and the test skips when nothing answers there.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone
from helpers import txn, wechat_bill, wechat_rows
from workers import AMQP, WorkerProcess, amqp_unreachable, publishing_to, wait_for

from backoffice.core.db import independent_connection
from backoffice.models import OutboxJob
from reconciliation.models import (
    ACTIVE_RUN_STATUSES,
    Discrepancy,
    ReconciliationRun,
    RunStatus,
    StatementFile,
    StatementLine,
)
from reconciliation.services.intake.statements import statement_receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

SETTLE_SECONDS = 120  # the bound on every wait; the test itself takes about 20 s
# Two channel-days that differ from each other (size, amounts, date), so results swapped between them show.
SLOTS = {
    "A": {"day": date(2026, 11, 24), "lines": 40, "amount": Decimal("6.00"), "fee": Decimal("0.04")},
    "B": {"day": date(2026, 11, 25), "lines": 60, "amount": Decimal("12.00"), "fee": Decimal("0.07")},
}


@pytest.fixture
def amqp_url():
    problem = amqp_unreachable(AMQP)
    if problem and not os.environ.get("TEST_AMQP_URL"):
        pytest.skip(f"no RabbitMQ at the default address ({problem}); CI sets TEST_AMQP_URL")
    assert problem is None, f"RabbitMQ at TEST_AMQP_URL cannot be reached: {problem}"
    return AMQP


@pytest.fixture
def pools(tmp_path, amqp_url):
    """An intake worker and a reconciliation worker of two processes, each consuming only its queue, on
    queues named for this test run alone."""
    prefix = f"test-{uuid.uuid4().hex[:10]}-"
    with publishing_to(amqp_url, queue_prefix=prefix) as queues:
        intake, reconciliation, _housekeeping = queues
        workers = [
            WorkerProcess(tmp_path, broker=amqp_url, queue_prefix=prefix, queues=[intake], name="intake"),
            WorkerProcess(
                tmp_path,
                broker=amqp_url,
                queue_prefix=prefix,
                queues=[reconciliation],
                pool="prefork",
                concurrency=2,
                name="reconciliation",
            ),
        ]
        for worker in workers:
            worker.start()
        try:
            yield workers
        finally:
            for worker in workers:
                worker.stop()
    assert not [worker for worker in workers if worker.running], "a worker process is still running"


def _bill(channel, slot: str, tag: str, first: int) -> bytes:
    """The channel's bill of the slot's day and our records for it. Our order numbers are ``<tag><k>``, so
    the results of two copies of a day compare once the tag is taken off. Differences: our record of line 0
    books another amount, ours of line 1 failed where the channel paid, the channel charges line 2 a cent
    more than the fee model, the last line is the channel's alone, and one record of ours is not listed."""
    shape = SLOTS[slot]
    day = shape["day"]
    rows = wechat_rows(shape["lines"], start=first, day=(day.year, day.month, day.day), amount=shape["amount"], fee=shape["fee"])
    rows = [row._replace(txn_no=f"{tag}{k:05d}") for k, row in enumerate(rows)]
    rows[2] = rows[2]._replace(fee=shape["fee"] + Decimal("0.01"))
    for k, row in enumerate(rows[:-1]):
        amount = shape["amount"] + (1 if k == 0 else 0)
        status = "FAILED" if k == 1 else "SUCCESS"
        txn(channel, row.txn_no, amount, status=status, day=day, channel_txn_no=row.channel_txn_no, fee=shape["fee"])
    txn(channel, f"{tag}99999", shape["amount"], day=day, fee=shape["fee"])
    return wechat_bill(rows)


def _receive(channel, content: bytes) -> StatementFile:
    """The bill handed in as an upload is: stored, its parse handed to a worker once this commits."""
    return statement_receive(
        channel=channel,
        content=io.BytesIO(content),
        original_name="bill.csv",
        source=StatementFile.Source.UPLOAD,
        acting_user=None,
        now=timezone.now(),
        parse_later=True,
    )


def _runs_done(channels) -> bool:
    runs = ReconciliationRun.objects.filter(channel__in=channels)
    return runs.count() == len(channels) and not runs.filter(status__in=ACTIVE_RUN_STATUSES).exists()


def _results(channel, tag: str) -> dict:
    """What the day's run concluded, with this copy's tag taken off our order numbers."""
    run = ReconciliationRun.objects.get(channel=channel)
    assert run.status == RunStatus.SUCCEEDED, run.error
    discrepancies = sorted(
        (
            d.type,
            d.match_key.removeprefix(tag),
            d.state,
            d.direction,
            str(d.effect),
            str(d.platform_amount),
            str(d.bank_amount),
            d.platform_status,
            d.bank_status,
            str(d.bank_fee),
            str(d.expected_fee),
            d.business_date.isoformat(),
            str(d.carry_until),
        )
        for d in Discrepancy.objects.filter(channel=channel)
    )
    lines = StatementLine.objects.filter(channel=channel)
    # The file's id is this copy's own; everything else the run counted must be the same.
    controls = [{k: v for k, v in control.items() if k != "file_id"} for control in run.counts.get("controls", [])]
    return {
        "business_date": run.business_date.isoformat(),
        "counts": {**run.counts, "controls": controls},
        "discrepancies": discrepancies,
        "lines": lines.count(),
        "line_amount": str(sum(lines.values_list("amount", flat=True), Decimal(0))),
    }


def _digest(results: dict) -> str:
    return hashlib.sha256(json.dumps(results, sort_keys=True, default=str).encode()).hexdigest()


class TableLock:
    """A lock on ``table`` held by the test (SHARE: others read, nobody writes), on a connection of its own."""

    def __init__(self, table: str):
        self.conn = independent_connection()
        self.conn.execute("BEGIN")
        self.conn.execute(f"LOCK TABLE {table} IN SHARE MODE")

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


def test_two_channel_days_at_once_on_rabbitmq_give_the_results_of_one_after_the_other(make_channel, make_fee_model, pools):
    intake, reconciliation = pools
    worlds = {}
    for world in ("S", "P"):  # one after the other; at once
        worlds[world] = {}
        for s, slot in enumerate(SLOTS):
            channel = make_channel(f"RQ{world}{slot}")
            make_fee_model(channel)  # 0.6 % half-up: 0.04 on 6.00, 0.07 on 12.00
            tag = f"{world}{slot}"
            worlds[world][slot] = (channel, tag, _bill(channel, slot, tag, first=1 + 1000 * (2 * (world == "P") + s)))

    def wait(predicate, what):
        try:
            wait_for(predicate, what=what, seconds=SETTLE_SECONDS, worker=reconciliation)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nthe intake worker's log ends:\n{intake.log_tail()}") from None

    # One after the other: each day's file parsed and its run finished before the next file comes.
    for channel, _tag, bill in worlds["S"].values():
        _receive(channel, bill)
        wait(lambda channel=channel: _runs_done([channel]), f"the run of {channel.code}")

    # At once: both files handed in together; both runs must be executing at the same moment. Each blocks at
    # its first write of a discrepancy while the test holds the table, so both are seen RUNNING together (one
    # reconciliation process alone would leave the second PENDING), then they finish.
    parallel = [channel for channel, _tag, _bill in worlds["P"].values()]
    lock = TableLock(Discrepancy._meta.db_table)
    try:
        for channel, _tag, bill in worlds["P"].values():
            _receive(channel, bill)

        def both_running() -> bool:
            return ReconciliationRun.objects.filter(channel__in=parallel, status=RunStatus.RUNNING).count() == 2

        wait(both_running, "both runs to be executing at once")
    finally:
        lock.release()
    wait(lambda: _runs_done(parallel), "the two runs at once")

    for slot in SLOTS:
        sequential = _results(*worlds["S"][slot][:2])
        concurrent = _results(*worlds["P"][slot][:2])
        assert concurrent == sequential, slot
        assert _digest(concurrent) == _digest(sequential)
        types = sorted(d[0] for d in sequential["discrepancies"])
        assert types == ["AMOUNT_MISMATCH", "BANK_ONLY", "FEE_MISMATCH", "PLATFORM_ONLY", "STATUS_MISMATCH"], types
        assert sequential["lines"] == SLOTS[slot]["lines"]
    # Every file parsed once, every job handed to the broker.
    files = StatementFile.objects.filter(channel__code__startswith="RQ")
    assert sorted(files.values_list("status", flat=True)) == ["PARSED"] * 4
    assert not OutboxJob.objects.filter(sent_at__isnull=True).exists()
