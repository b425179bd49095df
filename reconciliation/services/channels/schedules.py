"""django-celery-beat schedules kept in step with the configuration: one fetch per statement source,
one daily reconciliation per channel.

For sources:

The source is the authority: every sync writes its fetch time and active flag to its PeriodicTask,
whatever was edited in Periodic tasks since. Crontab rows are shared between tasks (beat's admin
offers them for reuse), so a new time points the task at another row and never edits one in place.
The task is found again by the source id at the start of its name, so a renamed channel does not
leave a second schedule behind.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from reconciliation.models import Channel, RunStage, RunTrigger, StatementSource
from reconciliation.services.jobs import Job

# StatementSource.fetch_time is a wall-clock time in the product's time zone.
SCHEDULE_TIMEZONE = ZoneInfo("Asia/Shanghai")


def _name_prefix(source: StatementSource) -> str:
    # The trailing space keeps source 1's prefix from matching source 12's tasks.
    return f"fetch statements: {source.pk} "


def _daily_crontab(at: time) -> CrontabSchedule:
    fields = {
        "minute": str(at.minute),
        "hour": str(at.hour),
        "day_of_month": "*",
        "month_of_year": "*",
        "day_of_week": "*",
        "timezone": SCHEDULE_TIMEZONE,
    }
    # No unique constraint on crontab rows (and the admin may have made twins): take the oldest.
    return CrontabSchedule.objects.filter(**fields).order_by("id").first() or CrontabSchedule.objects.create(**fields)


def source_schedule_sync(*, source: StatementSource) -> PeriodicTask:
    """Create or update the source's daily fetch task; calling it again changes nothing more."""
    with transaction.atomic():
        prefix = _name_prefix(source)
        task = PeriodicTask.objects.select_for_update().filter(name__startswith=prefix).order_by("id").first() or PeriodicTask()
        task.name = f"{prefix}{source.channel.code} {source.kind}"
        task.task = Job.STATEMENTS_FETCH
        task.args = "[]"
        # No statement_date: the task then fetches yesterday's statements, in Asia/Shanghai.
        task.kwargs = json.dumps({"source_id": source.pk})
        task.crontab = _daily_crontab(source.fetch_time)
        # Exactly one kind of schedule: drop whatever an admin may have switched the task to.
        task.interval = task.solar = task.clocked = None
        task.one_off = False
        task.enabled = source.is_active
        task.description = f"Kept in step with statement source #{source.pk}: change its fetch time there."
        # save(), not update(): PeriodicTask.save() tells the beat scheduler that its schedule changed.
        task.save()
    return task


def source_schedule_remove(*, source: StatementSource) -> None:
    """Delete the source's fetch task (crontab rows stay: other tasks may use them)."""
    # django-celery-beat's pre_delete signal tells the beat scheduler, for a queryset delete too.
    PeriodicTask.objects.filter(name__startswith=_name_prefix(source)).delete()


# A channel's daily run starts this long after its statements are due, leaving the fetch time to land them.
RUN_DELAY_MINUTES = 30
# Stage 2 an hour after stage 1: its expectations come from the transactions stage 1 confirmed.
FUND_DELAY_MINUTES = 60


def _channel_prefix(channel: Channel, stage: str = RunStage.TRANSACTION) -> str:
    return f"reconcile funds: {channel.pk} " if stage == RunStage.FUND else f"reconcile: {channel.pk} "


def channel_schedule_sync(*, channel: Channel) -> PeriodicTask:
    """The channel's daily runs of yesterday: stage 1 shortly after its statements are due, stage 2 (the
    money moved) after stage 1, when the day's settlements and their fund statement are in. Returns the
    stage-1 task."""
    ready = datetime.combine(date(2000, 1, 1), channel.statement_ready_time)
    stage_one = _channel_task(channel, RunStage.TRANSACTION, (ready + timedelta(minutes=RUN_DELAY_MINUTES)).time())
    _channel_task(channel, RunStage.FUND, (ready + timedelta(minutes=RUN_DELAY_MINUTES + FUND_DELAY_MINUTES)).time())
    return stage_one


def _channel_task(channel: Channel, stage: str, at: time) -> PeriodicTask:
    with transaction.atomic():
        prefix = _channel_prefix(channel, stage)
        task = PeriodicTask.objects.select_for_update().filter(name__startswith=prefix).order_by("id").first() or PeriodicTask()
        task.name = f"{prefix}{channel.code}"
        task.task = Job.RUN_START
        task.args = "[]"
        kwargs = {"channel_id": channel.pk, "trigger": RunTrigger.SCHEDULE}
        task.kwargs = json.dumps(kwargs if stage == RunStage.TRANSACTION else {**kwargs, "stage": stage})
        task.crontab = _daily_crontab(at)
        task.interval = task.solar = task.clocked = None
        task.one_off = False
        task.enabled = channel.is_active
        delay = RUN_DELAY_MINUTES + (FUND_DELAY_MINUTES if stage == RunStage.FUND else 0)
        task.description = f"Kept in step with channel {channel.code}: its statement ready time plus {delay} min."
        task.save()
    return task
