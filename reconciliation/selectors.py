"""Read-side queries: querysets with the joins their screens need (no N+1)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Q, QuerySet
from django.db.models.functions import Abs

from reconciliation.models import Discrepancy, ReconciliationRun, StatementFile


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


# A queue filter value: every state but RESOLVED.
UNRESOLVED = "UNRESOLVED"
DISCREPANCY_SORTS = {
    "date": ("business_date", "id"),
    "-date": ("-business_date", "-id"),
    "effect": ("effect", "id"),
    "-effect": ("-effect", "-id"),
    "abs": ("abs_effect", "id"),
    "-abs": ("-abs_effect", "-id"),
    "type": ("type", "id"),
    "state": ("state", "id"),
}


def discrepancies(*, filters: dict, today: date, sort: str = "-date") -> QuerySet[Discrepancy]:
    """The discrepancy list: filtered and sorted in the database, with both sides joined."""
    found = Discrepancy.objects.select_related("channel", "platform_txn", "statement_line", "related_txn", "run").annotate(
        abs_effect=Abs("effect")
    )
    if filters.get("channel"):
        found = found.filter(channel=filters["channel"])
    if filters.get("state") == UNRESOLVED:
        found = found.exclude(state=Discrepancy.State.RESOLVED)
    elif filters.get("state"):
        found = found.filter(state=filters["state"])
    for name in ("type", "direction"):
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
