"""Read-side queries of reconciliation runs: lists, what a run found or closed, daily effects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, QuerySet

from reconciliation.filters import RunFilter
from reconciliation.models import Discrepancy, ReconciliationRun


def run_discrepancies(*, run: ReconciliationRun) -> QuerySet[Discrepancy]:
    """What a run found or closed: the discrepancies it created and the carried-over ones it matched."""
    return (
        Discrepancy.objects.filter(Q(run=run) | Q(matched_run=run))
        .select_related("platform_txn", "statement_line", "related_txn")
        .order_by("type", "business_date", "id")
    )


def runs() -> QuerySet[ReconciliationRun]:
    """Runs, latest business date first, with their channel and who requested them."""
    return ReconciliationRun.objects.select_related("channel", "started_by").order_by("-business_date", "-id")


def run_list(*, params: Mapping) -> RunFilter:
    return RunFilter(params, queryset=runs())


def daily_effects(*, channel_ids: list[int], until: date, days: int) -> dict[int, list[dict]]:
    """Per channel and business date (the last ``days`` up to ``until``): the latest finished run's
    overage and shortage, in the shape ``effect_chart`` draws. Dates without a run have no figures."""
    latest: dict[tuple[int, date], ReconciliationRun] = {}
    finished = (
        ReconciliationRun.objects.filter(
            channel_id__in=channel_ids,
            status=ReconciliationRun.Status.SUCCEEDED,
            business_date__gt=until - timedelta(days=days),
            business_date__lte=until,
        )
        .only("id", "channel_id", "business_date", "counts")
        .order_by("business_date", "id")
    )
    for run in finished:
        latest[(run.channel_id, run.business_date)] = run  # ordered by id: the last one wins
    points: dict[int, list[dict]] = {}
    for channel_id in channel_ids:
        points[channel_id] = []
        for offset in range(days - 1, -1, -1):
            day = until - timedelta(days=offset)
            run = latest.get((channel_id, day))
            counts = run.counts if run else {}
            points[channel_id].append(
                {
                    "day": day,
                    "run": run,
                    "overage": Decimal(counts.get("overage", "0")),
                    "shortage": Decimal(counts.get("shortage", "0")),
                }
            )
    return points
