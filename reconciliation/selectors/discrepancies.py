"""Read-side queries of discrepancies: the queue with both sides joined, filtered by its FilterSet."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Abs

from reconciliation.filters import DiscrepancyFilter
from reconciliation.models import Discrepancy

# From this many rows into a list, a page's rows are picked by id before anything is joined to them.
FAR_PAGE_OFFSET = 500


class QueueQuerySet(QuerySet):
    """A far page (``?page=500``) without joining every row before it. PostgreSQL applies OFFSET only
    after the joins of ``select_related``, so page 500 of 100,000 discrepancies looked up both sides, the
    run and the channel of the 25,000 rows it skipped (190 ms, docs/benchmarks.md). A slice that starts
    that far first takes the page's ids from the same filtered, ordered list without joins, then loads
    those rows with their joins, in the same order."""

    def __getitem__(self, k):
        far = isinstance(k, slice) and (k.start or 0) >= FAR_PAGE_OFFSET
        if far and self._result_cache is None and not self.query.is_sliced:
            ids = list(QuerySet.__getitem__(self.values_list("id", flat=True), k))
            return self.filter(id__in=ids)
        return super().__getitem__(k)


def discrepancies() -> QuerySet[Discrepancy]:
    """Every discrepancy with what its list shows joined in (no N+1), and the size of its money effect
    (``abs_effect``) to filter and sort by."""
    return (
        QueueQuerySet(model=Discrepancy)
        .select_related("channel", "platform_txn", "statement_line", "related_txn", "run")
        .annotate(abs_effect=Abs("effect"))
    )


def discrepancy_queue(*, params: Mapping, today: date) -> DiscrepancyFilter:
    """The queue as the screen, the export and the API filter and sort it (``.qs``; ``.form`` to show)."""
    return DiscrepancyFilter(params, queryset=discrepancies(), today=today)


def effect_totals(found: QuerySet[Discrepancy]) -> list[dict]:
    """Overage (sum of positive effects), shortage (sum of negative ones) and the number of items per
    currency of a list: amounts of different currencies are never added together. One pass over the
    list: its page counter takes its count from here rather than counting the list a second time."""
    return list(
        found.order_by()
        .values("currency")
        .annotate(
            overage=Sum("effect", filter=Q(effect__gt=0), default=0),
            shortage=Sum("effect", filter=Q(effect__lt=0), default=0),
            items=Count("id"),
        )
        .order_by("currency")
    )
