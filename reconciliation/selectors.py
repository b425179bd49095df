"""Read-side queries: querysets with the joins their screens need (no N+1)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet
from django.db.models.functions import Abs

from reconciliation.models import Channel, Discrepancy, FeeModel, ReconciliationRun, StatementFile


def channels_with_current_fees(*, at: datetime) -> QuerySet[Channel]:
    """Active channels with the fee models valid at ``at`` prefetched as ``current_fee_models``."""
    current = (
        FeeModel.objects.filter(valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .select_related("charged_account__bank")
        .prefetch_related("tiers")
        .order_by("business_type", "id")
    )
    return (
        Channel.objects.filter(is_active=True)
        .select_related("bank", "settlement_account__bank")
        .prefetch_related(Prefetch("fee_models", queryset=current, to_attr="current_fee_models"))
        .order_by("code", "id")
    )


def statement_files(*, filters: dict) -> QuerySet[StatementFile]:
    """Statement files for the list screen, newest first, with who uploaded them."""
    files = StatementFile.objects.select_related("channel", "uploaded_by").order_by("-received_at", "-id")
    if filters.get("channel"):
        files = files.filter(channel=filters["channel"])
    if filters.get("kind"):
        files = files.filter(kind=filters["kind"])
    if filters.get("status"):
        files = files.filter(status=filters["status"])
    if filters.get("date_from"):
        files = files.filter(statement_date__gte=filters["date_from"])
    if filters.get("date_to"):
        files = files.filter(statement_date__lte=filters["date_to"])
    return files


def run_discrepancies(*, run: ReconciliationRun) -> QuerySet[Discrepancy]:
    """What a run found or closed: the discrepancies it created and the carried-over ones it matched."""
    return (
        Discrepancy.objects.filter(Q(run=run) | Q(matched_run=run))
        .select_related("platform_txn", "statement_line", "related_txn")
        .order_by("type", "business_date", "id")
    )


def runs(*, filters: dict) -> QuerySet[ReconciliationRun]:
    found = ReconciliationRun.objects.select_related("channel", "started_by").order_by("-business_date", "-id")
    if filters.get("channel"):
        found = found.filter(channel=filters["channel"])
    if filters.get("status"):
        found = found.filter(status=filters["status"])
    if filters.get("date_from"):
        found = found.filter(business_date__gte=filters["date_from"])
    if filters.get("date_to"):
        found = found.filter(business_date__lte=filters["date_to"])
    return found


def channel_daily_effects(*, channel: Channel, until: date, days: int) -> list[dict]:
    """Per business date (the last ``days`` up to ``until``): the latest finished run's overage, shortage
    and matched share. Dates without a run are present with no figures, so a chart shows the gap."""
    latest = {
        run.business_date: run
        for run in ReconciliationRun.objects.filter(
            channel=channel, status=ReconciliationRun.Status.SUCCEEDED,
            business_date__gt=until - timedelta(days=days), business_date__lte=until,
        ).order_by("business_date", "id")
    }
    points = []
    for offset in range(days - 1, -1, -1):
        day = until - timedelta(days=offset)
        run = latest.get(day)
        counts = run.counts if run else {}
        outcomes = counts.get("outcomes", {})
        total = sum(v["count"] for v in outcomes.values())
        matched = sum(outcomes.get(k, {}).get("count", 0) for k in ("MATCHED", "MATCHED_CROSS_DAY", "AGREED_FAILED"))
        points.append({
            "day": day, "run": run, "overage": Decimal(counts.get("overage", "0")),
            "shortage": Decimal(counts.get("shortage", "0")), "matched_share": matched / total if total else None,
        })
    return points


DISCREPANCY_SORTS = {
    "date": ("business_date", "id"), "-date": ("-business_date", "-id"),
    "effect": ("effect", "id"), "-effect": ("-effect", "-id"),
    "abs": ("abs_effect", "id"), "-abs": ("-abs_effect", "-id"),
    "type": ("type", "id"), "state": ("state", "id"),
}


def discrepancies(*, filters: dict, today: date, sort: str = "-date") -> QuerySet[Discrepancy]:
    """The discrepancy list: filtered and sorted in the database, with both sides joined."""
    found = Discrepancy.objects.select_related("channel", "platform_txn", "statement_line", "related_txn", "run").annotate(
        abs_effect=Abs("effect")
    )
    if filters.get("channel"):
        found = found.filter(channel=filters["channel"])
    for name in ("type", "state", "direction"):
        if filters.get(name):
            found = found.filter(**{name: filters[name]})
    if filters.get("run"):
        found = found.filter(Q(run=filters["run"]) | Q(matched_run=filters["run"]))
    if filters.get("date_from"):
        found = found.filter(business_date__gte=filters["date_from"])
    if filters.get("date_to"):
        found = found.filter(business_date__lte=filters["date_to"])
    if filters.get("amount_min") is not None:
        found = found.filter(abs_effect__gte=filters["amount_min"])
    if filters.get("amount_max") is not None:
        found = found.filter(abs_effect__lte=filters["amount_max"])
    # Age in days since the item's business date.
    if filters.get("age_min") is not None:
        found = found.filter(business_date__lte=today - timedelta(days=filters["age_min"]))
    if filters.get("age_max") is not None:
        found = found.filter(business_date__gte=today - timedelta(days=filters["age_max"]))
    return found.order_by(*DISCREPANCY_SORTS.get(sort, DISCREPANCY_SORTS["-date"]))
