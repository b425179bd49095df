"""Every job goes to one of the three queues (intake, reconciliation, housekeeping) by its name, however it is
sent: a task added without a route fails here, before a worker pool that does not consume its queue would
leave it waiting for ever."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from celery.beat import ScheduleEntry, Scheduler
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry
from workers import publishing_to

from backoffice.celery import app
from backoffice.services.jobs import job_enqueue, outbox_send
from backoffice.tasks import OUTBOX_SEND
from reconciliation.services.channels.schedules import channel_schedule_sync
from reconciliation.services.jobs import Job

QUEUE_OF = {
    Job.STATEMENT_PARSE: "intake",
    Job.STATEMENTS_FETCH: "intake",
    Job.RUN_START: "reconciliation",
    Job.RUN_EXECUTE: "reconciliation",
    Job.DISCREPANCIES_OPEN_EXPIRED: "housekeeping",
    Job.RECOVER_STALE: "housekeeping",
    Job.DISCREPANCY_TALLY_COMPACT: "housekeeping",
    OUTBOX_SEND: "housekeeping",
}


def test_the_three_queues_are_the_settings_and_a_worker_without_q_consumes_them_all():
    assert settings.JOB_QUEUES == ("intake", "reconciliation", "housekeeping")
    assert sorted(app.amqp.queues) == sorted(settings.JOB_QUEUES)
    assert app.conf.task_default_queue in settings.JOB_QUEUES


def _unrouted() -> dict:
    """Registered tasks that no route sends to one of the three queues (the default queue does not count)."""
    unrouted = {}
    for name in sorted(app.tasks):
        route = app.amqp.router.lookup_route(name)
        if not route or route.get("queue") not in settings.JOB_QUEUES:
            unrouted[name] = route
    return unrouted


def test_every_registered_task_has_a_route_to_one_of_the_three_queues():
    unrouted = _unrouted()
    assert not unrouted, f"tasks without a route to {settings.JOB_QUEUES} (add them to CELERY_TASK_ROUTES): {unrouted}"


def test_a_task_added_without_a_route_is_caught(monkeypatch):
    monkeypatch.setitem(app.tasks, "reconciliation.new_job", app.tasks[Job.RUN_EXECUTE])
    assert list(_unrouted()) == ["reconciliation.new_job"]


@pytest.mark.parametrize(("task", "queue"), sorted(QUEUE_OF.items()))
def test_each_job_goes_to_the_queue_of_its_kind(task, queue):
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_the_beats_own_schedule_is_housekeeping():
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert app.amqp.router.route({}, entry["task"])["queue"].name == "housekeeping", entry


@pytest.fixture
def memory_queues():
    """This process publishes (not eagerly) to kombu's in-process memory broker, on queues of its own; the
    number of messages waiting in a queue is read from the broker."""
    with publishing_to("memory://", queue_prefix=f"routes-{uuid.uuid4().hex[:8]}-") as names:
        queues = dict(zip(settings.JOB_QUEUES, names, strict=True))

        def waiting() -> dict[str, int]:
            with app.connection_for_write() as conn:
                return {
                    queue: conn.default_channel.queue_declare(name, passive=True).message_count for queue, name in queues.items()
                }

        yield waiting


@pytest.mark.django_db
def test_the_outbox_sends_each_job_to_its_queue(memory_queues, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job_enqueue(Job.STATEMENT_PARSE, statement_file_id=1)
        job_enqueue(Job.RUN_EXECUTE, run_id=1)
    assert memory_queues() == {"intake": 1, "reconciliation": 1, "housekeeping": 0}

    # A job the broker could not take at first is sent by the sweeper: by the same route.
    from backoffice.models import OutboxJob

    OutboxJob.objects.create(name=OUTBOX_SEND, kwargs={})
    OutboxJob.objects.create(name=Job.STATEMENTS_FETCH, kwargs={"source_id": 1})
    assert outbox_send(now=timezone.now() + timedelta(minutes=5))["sent"] == 2
    assert memory_queues() == {"intake": 2, "reconciliation": 1, "housekeeping": 1}


@pytest.mark.django_db
def test_the_beat_sends_scheduled_jobs_by_the_routes(memory_queues, make_channel):
    channel = make_channel("ROUTED")
    channel_schedule_sync(channel=channel)
    scheduler = Scheduler(app, lazy=True)
    for periodic in PeriodicTask.objects.filter(name__contains=channel.code).order_by("id"):  # stage 1 and stage 2
        scheduler.apply_async(ModelEntry(periodic, app=app), advance=False)
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        scheduler.apply_async(ScheduleEntry(name=name, task=entry["task"], schedule=entry["schedule"], app=app), advance=False)
    assert memory_queues() == {"intake": 0, "reconciliation": 2, "housekeeping": len(settings.CELERY_BEAT_SCHEDULE)}
