"""The dashboard: today's statement files, runs and open work per channel, and the user's own work."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from backoffice.dashboard import selectors
from backoffice.dashboard.selectors import AgeingBucket
from reconciliation.models.workflow import APPROVE_PERMISSION, SECOND_APPROVAL_PERMISSION
from reconciliation.selectors.workflow import assigned_to_me, awaiting_my_approval

WORK_LIST_SIZE = 15
TREND_DAYS = 14


@dataclass(frozen=True)
class ChartFrame:
    """The ageing chart's drawing area in SVG user units: bars stand on the baseline, their count
    above them and the bucket's day range below."""

    width: int = 240
    height: int = 86
    baseline: int = 64
    bar_max: int = 46
    bar_width: int = 34

    @property
    def range_label_y(self) -> int:
        return self.height - 6


@dataclass(frozen=True)
class Bar:
    bucket: AgeingBucket
    x: int
    y: int
    height: int
    centre: int
    index: int


CHART = ChartFrame()


def ageing_bars(buckets: list[AgeingBucket], frame: ChartFrame = CHART) -> list[Bar]:
    """Bar geometry for the ageing chart, scaled to the fullest bucket of the channel. The template
    draws the SVG from it (autoescaped), so no markup is assembled in Python."""
    band = frame.width // max(len(buckets), 1)
    fullest = max([b.count for b in buckets] + [1])
    bars = []
    for index, bucket in enumerate(buckets):
        # A bucket with items is at least 2 units high, so a small count next to a large one stays visible.
        height = max(round(bucket.count * frame.bar_max / fullest), 2) if bucket.count else 0
        bars.append(
            Bar(
                bucket=bucket,
                x=index * band + (band - frame.bar_width) // 2,
                y=frame.baseline - height,
                height=height,
                centre=index * band + band // 2,
                index=index,
            )
        )
    return bars


def _head(found: QuerySet[Model], size: int = WORK_LIST_SIZE) -> tuple[list[Model], int]:
    """The first ``size`` items and how many there are in all. Always counted, so the page costs the
    same number of queries whether the list is short or long."""
    return list(found[:size]), found.count()


def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    user = request.user
    can_approve = user.has_perm(APPROVE_PERMISSION) or user.has_perm(SECOND_APPROVAL_PERMISSION)
    context: dict = {
        "now": now,
        "statement_date": selectors.statement_date_of(now),
        "chart": CHART,
        "can_approve": can_approve,
        "trend_days": TREND_DAYS,
    }
    if user.has_perm("reconciliation.view_discrepancy"):
        channels = selectors.channels_today(now=now, trend_days=TREND_DAYS)
        context["channels"] = [(channel, ageing_bars(channel.ageing)) for channel in channels]
        context["assigned"], context["assigned_total"] = _head(assigned_to_me(user=user))
    if can_approve:
        context["approvals"], context["approvals_total"] = _head(awaiting_my_approval(user=user))
    return render(request, "backoffice/dashboard.html", context)
