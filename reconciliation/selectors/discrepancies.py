"""Read-side queries of discrepancies: the queue with both sides joined, filtered by its FilterSet."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Abs
from django_filters.constants import EMPTY_VALUES

from reconciliation.filters import DiscrepancyFilter
from reconciliation.models import Discrepancy, DiscrepancyTally
from reconciliation.models.runs import TALLY_KEYS

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
    (``abs_effect``) to filter and sort by.

    A page's lines come in a second query, by id, rather than joined to each row: the lines are partitioned by
    day and a discrepancy does not carry its line's date, so the join probes every day's partition for every
    row, and on a far page (rows picked by id) the planner preferred a parallel scan of every discrepancy to 50
    probes of their primary key (docs/benchmarks.md, "A day against a month of history")."""
    return (
        QueueQuerySet(model=Discrepancy)
        .select_related("channel", "platform_txn", "related_txn", "run")
        .prefetch_related("statement_line")
        .annotate(abs_effect=Abs("effect"))
    )


def discrepancy_queue(*, params: Mapping, today: date) -> DiscrepancyFilter:
    """The queue as the screen, the export and the API filter and sort it (``.qs``; ``.form`` to show)."""
    return DiscrepancyFilter(params, queryset=discrepancies(), today=today)


# The queue's filters that narrow only the tally's keys (channel, type, state, direction, business date;
# an age is a business date too): with no other filter, the totals are the tally's, not a sum over
# every discrepancy of the list. ``sort`` changes no total.
TALLY_FILTERS = frozenset(
    {
        "channel",
        "type",
        "state",
        "direction",
        "date_from",
        "date_to",
        "age_min",
        "age_max",
        "business_date",
        "business_date_from",
        "business_date_to",
        "sort",
    }
)


def queue_totals(queue: DiscrepancyFilter) -> list[dict]:
    """``effect_totals`` of the queue's list as filtered: read from the tally the database keeps
    (``DiscrepancyTally``) when every filter given narrows one of its keys, applied by the queue's own
    filters so both mean the same; otherwise added up over the list."""
    queue.errors  # noqa: B018 - validates the form, as the list's own filtering does
    given = {name: value for name, value in queue.form.cleaned_data.items() if value not in EMPTY_VALUES}
    if not set(given) <= TALLY_FILTERS:
        return effect_totals(queue.qs)
    tally = DiscrepancyTally.objects.all()
    for name, value in given.items():
        if name != "sort":
            tally = queue.filters[name].filter(tally, value)
    return list(
        tally.order_by()
        .values("currency")
        .annotate(overage=Sum("overage_change"), shortage=Sum("shortage_change"), items=Sum("items_change"))
        .filter(items__gt=0)
        .order_by("currency")
    )


def tally_differences() -> list[dict]:
    """The keys where the tally and the discrepancies disagree, each with both figures (items, overage,
    shortage); empty when they agree. Reads every discrepancy: what the tests hold the tally to."""
    counted = {
        tuple(row[key] for key in TALLY_KEYS): (row["n"], row["over"], row["short"])
        for row in Discrepancy.objects.order_by()
        .values(*TALLY_KEYS)
        .annotate(
            n=Count("id"),
            over=Sum("effect", filter=Q(effect__gt=0), default=0),
            short=Sum("effect", filter=Q(effect__lt=0), default=0),
        )
    }
    tallied = {
        tuple(row[key] for key in TALLY_KEYS): (row["n"], row["over"], row["short"])
        for row in DiscrepancyTally.objects.order_by()
        .values(*TALLY_KEYS)
        .annotate(n=Sum("items_change"), over=Sum("overage_change"), short=Sum("shortage_change"))
    }
    nothing = (0, 0, 0)
    return [
        {
            "key": dict(zip(TALLY_KEYS, key, strict=True)),
            "discrepancies": counted.get(key, nothing),
            "tally": tallied.get(key, nothing),
        }
        for key in sorted(set(counted) | set(tallied), key=str)
        if counted.get(key, nothing) != tallied.get(key, nothing)
    ]


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
