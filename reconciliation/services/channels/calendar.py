"""Business days of a channel: every calendar day, or working days (Mon–Fri with the holiday table)."""

from __future__ import annotations

from datetime import date, timedelta

from reconciliation.models import Channel, Holiday


def _is_business_day(channel: Channel, day: date, exceptions: dict[date, str]) -> bool:
    if channel.calendar == Channel.Calendar.EVERY_DAY:
        return True
    kind = exceptions.get(day)
    if kind == Holiday.Kind.HOLIDAY:
        return False
    if kind == Holiday.Kind.WORKDAY:
        return True
    return day.weekday() < 5


def business_days_after(*, channel: Channel, day: date, count: int) -> date:
    """The ``count``-th business day after ``day`` (T+count): T+1, T+2 with the default carry-over."""
    exceptions = (
        {}
        if channel.calendar == Channel.Calendar.EVERY_DAY
        # A generous range: even the longest holiday (a week) and its weekends fit.
        else dict(Holiday.objects.filter(day__gt=day, day__lte=day + timedelta(days=count * 3 + 14)).values_list("day", "kind"))
    )
    current, found = day, 0
    while found < count:
        current += timedelta(days=1)
        if _is_business_day(channel, current, exceptions):
            found += 1
    return current
