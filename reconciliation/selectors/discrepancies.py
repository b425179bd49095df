"""Read-side queries: querysets with the joins their screens need (no N+1)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Q, QuerySet
from django.db.models.functions import Abs

from reconciliation.models import Discrepancy

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
