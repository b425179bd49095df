"""Read-side queries of discrepancies: the queue with both sides joined, filtered by its FilterSet."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Abs

from reconciliation.filters import DiscrepancyFilter
from reconciliation.models import Discrepancy


def discrepancies() -> QuerySet[Discrepancy]:
    """Every discrepancy with what its list shows joined in (no N+1), and the size of its money effect
    (``abs_effect``) to filter and sort by."""
    return Discrepancy.objects.select_related("channel", "platform_txn", "statement_line", "related_txn", "run").annotate(
        abs_effect=Abs("effect")
    )


def discrepancy_queue(*, params: Mapping, today: date) -> DiscrepancyFilter:
    """The queue as the screen, the export and the API filter and sort it (``.qs``; ``.form`` to show)."""
    return DiscrepancyFilter(params, queryset=discrepancies(), today=today)


def effect_totals(found: QuerySet[Discrepancy]) -> QuerySet:
    """Overage (sum of positive effects) and shortage (sum of negative ones) per currency of a list:
    amounts of different currencies are never added together."""
    return (
        found.order_by()
        .values("currency")
        .annotate(
            overage=Sum("effect", filter=Q(effect__gt=0), default=0), shortage=Sum("effect", filter=Q(effect__lt=0), default=0)
        )
        .order_by("currency")
    )
