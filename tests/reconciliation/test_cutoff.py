"""The channel's cutoff time decides a line's business date where the statement does not: a line after the
cutoff belongs to the next day, as our transactions of that time do; a statement that dates its lines
itself is followed."""

import io
from datetime import time, timedelta

import pytest
from django.utils import timezone
from helpers import D, local_dt, reconcile, wechat_bill, wechat_rows

from reconciliation.models import Discrepancy, PlatformTransaction, StatementFormat, StatementLine
from reconciliation.services.intake.statements import statement_parse, statement_receive

D2 = D + timedelta(days=1)


def take_in(channel, data: bytes, name="bill.csv", **kwargs):
    received = statement_receive(
        channel=channel, content=io.BytesIO(data), original_name=name, source="UPLOAD", acting_user=None,
        now=timezone.now(), **kwargs,
    )  # fmt: skip
    return statement_parse(statement_file=received, now=timezone.now(), reconcile=False)


def ours(channel, txn_no, at):
    """Our transaction at ``at``, dated as the payment core dates it: by the channel's cutoff."""
    return PlatformTransaction.objects.create(
        txn_no=txn_no, channel=channel, business_type="COLLECTION", amount="6.00", fee="0.04", currency="CNY",
        status="SUCCESS", created_at=at, business_date=channel.business_date_of(at), received_at=at, updated_at=at,
    )  # fmt: skip


def dates_of_lines():
    return dict(StatementLine.objects.values_list("txn_no", "statement_date"))


@pytest.mark.django_db
def test_a_line_after_the_cutoff_belongs_to_the_next_day(wx):
    wx.cutoff_time = time(23, 0)
    wx.save()
    before, after = local_dt(2026, 11, 24, 22, 59, 59), local_dt(2026, 11, 24, 23, 30)
    ours(wx, "P00000001", before)
    ours(wx, "P00000002", after)
    rows = [
        *wechat_rows(1, start=1, occurred_at=before),
        *wechat_rows(1, start=2, occurred_at=after),
    ]
    bill = take_in(wx, wechat_bill(rows))
    assert bill.statement_date == D and (bill.lines_from, bill.lines_to) == (D, D2)
    assert dates_of_lines() == {"P00000001": D, "P00000002": D2}
    first = reconcile(wx)
    assert first.counts["outcomes"] == {"MATCHED": {"count": 1, "amount": "6.0000"}}
    # The next day's run reads the line the cutoff moved, from the earlier day's bill.
    second = reconcile(wx, D2)
    assert second.counts["outcomes"] == {"MATCHED": {"count": 1, "amount": "6.0000"}}
    assert not Discrepancy.objects.exists()


@pytest.mark.django_db
def test_a_bill_of_a_channel_that_cuts_at_midnight_dates_its_lines_by_the_bill(wx):
    late = local_dt(2026, 11, 23, 23, 59)  # listed in the bill of the 24th: the channel's own day
    take_in(wx, wechat_bill(wechat_rows(1, occurred_at=late) + wechat_rows(2, start=2)))
    assert set(dates_of_lines().values()) == {D}


@pytest.mark.django_db
def test_a_statement_that_dates_its_lines_itself_is_followed(wx):
    wx.cutoff_time = time(23, 0)
    wx.save()
    config = {
        "kind": "business",
        "columns": {
            "channel_txn_no": "流水号", "txn_no": "订单号", "amount": "金额", "occurred_at": "时间",
            "business_date": "清算日期",
        },
    }  # fmt: skip
    fmt = StatementFormat.objects.create(channel=wx, kind="BUSINESS", format_code="GENERIC", config=config)
    csv = (
        "流水号,订单号,金额,时间,清算日期\n"
        "S1,A1,6.00,2026-11-24 23:30:00,2026-11-24\n"  # after the cutoff, but the channel cleared it on the 24th
        "S2,A2,6.00,2026-11-24 23:40:00,\n"  # no date of its own: the cutoff decides
        "S3,A3,6.00,2026-11-24 10:00:00,\n"
    ).encode()
    bill = take_in(wx, csv, statement_format=fmt, statement_date=D)
    assert dates_of_lines() == {"A1": D, "A2": D2, "A3": D}
    assert (bill.lines_from, bill.lines_to) == (D, D2)


@pytest.mark.django_db
def test_a_bill_whose_lines_the_cutoff_moves_reruns_a_date_already_reconciled(wx, django_capture_on_commit_callbacks):
    wx.cutoff_time = time(23, 0)
    wx.save()
    after = local_dt(2026, 11, 24, 23, 30)
    ours(wx, "P00000002", after)
    reconcile(wx, D2)  # the 25th ran before the bill of the 24th came in: our order waits for its line
    assert Discrepancy.objects.get().state == "CARRIED_OVER"
    received = statement_receive(
        channel=wx, content=io.BytesIO(wechat_bill(wechat_rows(1, start=2, occurred_at=after))), original_name="b.csv",
        source="UPLOAD", acting_user=None, now=timezone.now(),
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        statement_parse(statement_file=received, now=timezone.now())
    d = Discrepancy.objects.get()
    assert (d.state, d.closed_as) == ("RESOLVED", "REMATCHED")
