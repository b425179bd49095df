"""Read-side queries of reconciliation runs: lists, a run's story (what it found, closed, left live),
daily effects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet

from reconciliation.filters import RunFilter, run_story_filter
from reconciliation.models import UNRESOLVED_STATES, Discrepancy, ReconciliationRun, RunFinding
from reconciliation.models.runs import LIVE_FINDINGS, FindingChange

# --- A run's story: one source (its RunFinding rows) for its list and its counts, on every screen ----


@dataclass(frozen=True)
class RunStory:
    """What one run concluded, counted from its RunFinding rows (append-only, so the story stays as the
    run told it): the discrepancies it found — new, or found again (still there, found different,
    opened after their window) — the carried-over ones it matched and closed, and how many of those it
    found are still live now (not resolved since, by a later run or a person)."""

    run_id: int
    new: int = 0
    again: int = 0
    closed: int = 0
    live: int = 0

    @property
    def found(self) -> int:
        return self.new + self.again

    @property
    def total(self) -> int:
        """Everything the run concluded about: the length of its list (``?run=<id>``)."""
        return self.found + self.closed


def run_stories(*, run_ids: Iterable[int]) -> dict[int, RunStory]:
    """The stories of several runs (a page of the run list, the dashboard) in one grouped query; a run
    without findings (still running, failed, or nothing to report) has an empty story."""
    ids = sorted(set(run_ids))
    rows = (
        RunFinding.objects.filter(run_id__in=ids)
        .values("run_id")
        .annotate(
            new=Count("id", filter=Q(change=FindingChange.FOUND)),
            again=Count("id", filter=Q(change__in=LIVE_FINDINGS) & ~Q(change=FindingChange.FOUND)),
            closed=Count("id", filter=Q(change=FindingChange.CLOSED)),
            live=Count("id", filter=Q(change__in=LIVE_FINDINGS, discrepancy__state__in=UNRESOLVED_STATES)),
        )
        .order_by()
    )
    stories = {run_id: RunStory(run_id=run_id) for run_id in ids}
    for row in rows:
        stories[row["run_id"]] = RunStory(**row)
    return stories


def run_story(*, run: ReconciliationRun) -> RunStory:
    return run_stories(run_ids=[run.pk])[run.pk]


def run_discrepancies(*, run: ReconciliationRun, finding: str = "") -> QuerySet[Discrepancy]:
    """The list of a run's story: every discrepancy it concluded about (the queue's ``?run=<id>``, through
    the same filter), each with ``finding``: what this run did to it (a FindingChange). Newest first by id, the
    order of the findings' own index (run, discrepancy): the run page's first rows are read from it, not sorted
    out of every finding of the run (15,716 of them on a month of history: 40 ms). The rows' lines come in a
    second query, by id, as the queue's do (``discrepancies``: the lines are partitioned by day)."""
    return (
        run_story_filter(Discrepancy.objects.all(), run_id=run.pk, finding=finding)
        # The finding row joined by the filter above (the same join: the run and the discrepancy are unique).
        .annotate(finding=F("findings__change"))
        .select_related("channel", "platform_txn", "related_txn")
        .prefetch_related("statement_line")
        .order_by("-id")
    )


def runs() -> QuerySet[ReconciliationRun]:
    """Runs, newest first (the latest requested on top), with their channel and who requested them."""
    return ReconciliationRun.objects.select_related("channel", "started_by").order_by("-created_at", "-id")


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
