"""Read-side queries of the dashboard: per active channel, today's statement files, latest run (and its
story: found, closed, still live), open discrepancies and their ageing; across channels, the clerk's and
checker's own work.

Every figure is grouped in the database and assembled here, so the dashboard costs the same fixed
number of queries whatever the number of channels, runs or discrepancies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import models
from django.db.models import Case, Count, Exists, IntegerField, OuterRef, QuerySet, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reconciliation.models import (
    UNRESOLVED_STATES,
    Channel,
    Discrepancy,
    DiscrepancyTally,
    ReconciliationRun,
    StatementFile,
    StatementFormat,
    StatementKind,
    StatementSource,
)
from reconciliation.selectors.runs import RunStory, daily_effects, run_stories

# Age in whole days since the business date: (first day, last day or None for "and older").
AGEING_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 1), (2, 3), (4, 7), (8, None))
# A channel is expected to send a fund statement when one is configured or one arrived this recently.
FUND_HISTORY_DAYS = 30
FILE_KINDS = (StatementKind.BUSINESS, StatementKind.FUND)
IN_PROGRESS_FILE_STATUSES = (StatementFile.Status.RECEIVED, StatementFile.Status.PARSING)


class FileCheck(models.TextChoices):
    """What the dashboard says about one kind of statement file of one channel and date."""

    PARSED = "PARSED", _("Parsed")
    PARSING = "PARSING", _("Being parsed")
    FAILED = "FAILED", _("Failed")
    MISSING = "MISSING", _("Missing")
    NOT_DUE = "NOT_DUE", _("Not due yet")
    NOT_EXPECTED = "NOT_EXPECTED", _("Not expected")


@dataclass(frozen=True)
class FileFacts:
    kind: str
    check: FileCheck
    # Files of this kind, channel and date by status (PARSED, FAILED, …); empty when none arrived.
    by_status: dict[str, int]

    @property
    def label(self) -> str:
        return self.check.label

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def breakdown(self) -> list[tuple[str, int]]:
        """(status label, files) in the order of the file life cycle."""
        return [(status.label, self.by_status[status]) for status in StatementFile.Status if self.by_status.get(status)]

    @property
    def is_warning(self) -> bool:
        return self.check in (FileCheck.MISSING, FileCheck.FAILED)


@dataclass
class MoneyTotals:
    """Open discrepancies of one currency: how many, their overage (≥ 0) and shortage (≤ 0)."""

    currency: str
    count: int = 0
    overage: Decimal = Decimal(0)
    shortage: Decimal = Decimal(0)

    def add(self, *, count: int, overage: Decimal, shortage: Decimal) -> None:
        self.count += count
        self.overage += overage
        self.shortage += shortage


@dataclass
class TypeTotals(MoneyTotals):
    type: str = ""

    @property
    def label(self) -> str:
        return Discrepancy.Type(self.type).label


@dataclass
class AgeingBucket:
    first_day: int
    last_day: int | None
    count: int = 0
    # Per currency: the sum of the absolute money effect (an overage and a shortage both need work).
    amounts: dict[str, Decimal] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.first_day}–{self.last_day}" if self.last_day is not None else f">{self.first_day - 1}"


@dataclass
class ChannelToday:
    channel: Channel
    statement_date: date
    files: list[FileFacts]
    run: ReconciliationRun | None
    # The latest run's story (found, closed, still live), counted as on the run's own page.
    story: RunStory | None
    by_type: list[TypeTotals]
    totals: list[MoneyTotals]
    ageing: list[AgeingBucket]
    trend: list[dict]

    @property
    def open_count(self) -> int:
        return sum(t.count for t in self.totals)

    @property
    def has_warning(self) -> bool:
        failed_run = self.run is not None and self.run.status == ReconciliationRun.Status.FAILED
        return failed_run or any(f.is_warning for f in self.files)


def statement_date_of(now: datetime) -> date:
    """The statement date channels deliver files for today: yesterday in the product's time zone."""
    return timezone.localdate(now) - timedelta(days=1)


def channels_today(*, now: datetime, trend_days: int = 14) -> list[ChannelToday]:
    """Every active channel's facts for today's statement date."""
    today = timezone.localdate(now)
    statement_date = statement_date_of(now)
    channels = list(_active_channels(statement_date=statement_date))
    ids = [c.pk for c in channels]
    files = _file_counts(channel_ids=ids, statement_date=statement_date)
    runs = _latest_runs(channel_ids=ids, business_date=statement_date)
    stories = run_stories(run_ids=[run.pk for run in runs.values()])
    groups = _open_groups(channel_ids=ids, today=today)
    trends = daily_effects(channel_ids=ids, until=statement_date, days=trend_days)
    ready = timezone.localtime(now).time()
    return [
        ChannelToday(
            channel=channel,
            statement_date=statement_date,
            files=[
                _file_facts(
                    kind,
                    files.get((channel.pk, kind), {}),
                    expected=_expects(channel, kind),
                    due=ready >= channel.statement_ready_time,
                )
                for kind in FILE_KINDS
            ],
            run=runs.get(channel.pk),
            story=stories[runs[channel.pk].pk] if channel.pk in runs else None,
            by_type=_by_type(groups.get(channel.pk, [])),
            totals=_totals(groups.get(channel.pk, [])),
            ageing=_ageing(groups.get(channel.pk, [])),
            trend=trends[channel.pk],
        )
        for channel in channels
    ]


def _active_channels(*, statement_date: date) -> QuerySet[Channel]:
    fund = StatementKind.FUND
    return (
        Channel.objects.filter(is_active=True)
        .annotate(
            fund_format=Exists(StatementFormat.objects.filter(channel=OuterRef("pk"), kind=fund)),
            fund_source=Exists(StatementSource.objects.filter(channel=OuterRef("pk"), kind=fund, is_active=True)),
            fund_history=Exists(
                StatementFile.objects.filter(
                    channel=OuterRef("pk"),
                    kind=fund,
                    statement_date__gte=statement_date - timedelta(days=FUND_HISTORY_DAYS),
                )
            ),
        )
        .order_by("code", "id")
    )


def _expects(channel: Channel, kind: str) -> bool:
    # Every channel sends its business detail; fund statements only come from channels set up for them
    # (otherwise every WeChat or Alipay card would warn about a file nobody fetches).
    if kind == StatementKind.BUSINESS:
        return True
    return channel.fund_format or channel.fund_source or channel.fund_history


def _file_counts(*, channel_ids: list[int], statement_date: date) -> dict[tuple[int, str], dict[str, int]]:
    counts: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    rows = (
        StatementFile.objects.filter(channel_id__in=channel_ids, statement_date=statement_date)
        .values("channel_id", "kind", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        counts[(row["channel_id"], row["kind"])][row["status"]] = row["n"]
    return counts


def _file_facts(kind: str, by_status: dict[str, int], *, expected: bool, due: bool) -> FileFacts:
    """A parsed file wins over a failed one (a corrected file was sent again); missing is only a warning
    once the channel's statements are due today."""
    if by_status.get(StatementFile.Status.PARSED):
        check = FileCheck.PARSED
    elif any(by_status.get(status) for status in IN_PROGRESS_FILE_STATUSES):
        check = FileCheck.PARSING
    elif by_status.get(StatementFile.Status.FAILED):
        check = FileCheck.FAILED
    elif not expected:
        check = FileCheck.NOT_EXPECTED
    else:
        check = FileCheck.MISSING if due else FileCheck.NOT_DUE
    return FileFacts(kind=kind, check=check, by_status=dict(by_status))


def _latest_runs(*, channel_ids: list[int], business_date: date) -> dict[int, ReconciliationRun]:
    # DISTINCT ON (channel_id): the newest run of each channel in one query.
    latest = (
        ReconciliationRun.objects.filter(channel_id__in=channel_ids, business_date=business_date)
        .order_by("channel_id", "-id")
        .distinct("channel_id")
        .only("id", "channel_id", "business_date", "status", "counts", "finished_at")
    )
    return {run.channel_id: run for run in latest}


def _age_bucket(today: date) -> Case:
    """The index of the ageing bucket of a discrepancy's business date, computed in the database."""
    whens = [
        When(business_date__gte=today - timedelta(days=last_day), then=Value(index))
        for index, (_first_day, last_day) in enumerate(AGEING_BUCKETS)
        if last_day is not None
    ]
    return Case(*whens, default=Value(len(AGEING_BUCKETS) - 1), output_field=IntegerField())


def _open_groups(*, channel_ids: list[int], today: date) -> dict[int, list[dict]]:
    """Unresolved discrepancies grouped by channel, type, currency and age bucket, read from the tally
    the database keeps (``DiscrepancyTally``): its size depends on the number of groups and dates, never
    on the number of discrepancies."""
    rows = (
        DiscrepancyTally.objects.filter(channel_id__in=channel_ids, state__in=UNRESOLVED_STATES)
        .annotate(bucket=_age_bucket(today))
        .values("channel_id", "type", "currency", "bucket")
        .annotate(n=Sum("items_change"), overage=Sum("overage_change"), shortage=Sum("shortage_change"))
        .filter(n__gt=0)
        .order_by()
    )
    grouped: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row["channel_id"]].append(row)
    return grouped


def _by_type(rows: Iterable[dict]) -> list[TypeTotals]:
    found: dict[tuple[str, str], TypeTotals] = {}
    for row in rows:
        key = (row["type"], row["currency"])
        found.setdefault(key, TypeTotals(currency=row["currency"], type=row["type"])).add(
            count=row["n"], overage=row["overage"], shortage=row["shortage"]
        )
    order = {value: n for n, value in enumerate(Discrepancy.Type.values)}
    return sorted(found.values(), key=lambda t: (order[t.type], t.currency))


def _totals(rows: Iterable[dict]) -> list[MoneyTotals]:
    found: dict[str, MoneyTotals] = {}
    for row in rows:
        found.setdefault(row["currency"], MoneyTotals(currency=row["currency"])).add(
            count=row["n"], overage=row["overage"], shortage=row["shortage"]
        )
    return [found[currency] for currency in sorted(found)]


def _ageing(rows: Iterable[dict]) -> list[AgeingBucket]:
    buckets = [AgeingBucket(first_day=first, last_day=last) for first, last in AGEING_BUCKETS]
    for row in rows:
        bucket = buckets[row["bucket"]]
        bucket.count += row["n"]
        bucket.amounts[row["currency"]] = bucket.amounts.get(row["currency"], Decimal(0)) + row["overage"] - row["shortage"]
    for bucket in buckets:
        bucket.amounts = dict(sorted(bucket.amounts.items()))
    return buckets
