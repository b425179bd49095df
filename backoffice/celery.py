"""The Celery application. Tasks live in each app's tasks.py and only call services; settings route each to
one of three queues (intake, reconciliation, housekeeping)."""

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

FILESYSTEM_BROKER_FOLDERS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


@app.on_after_configure.connect
def _filesystem_broker_folders(sender: Celery, **kwargs) -> None:
    """kombu's file broker expects its folders to exist: made when a process first uses Celery."""
    if not str(sender.conf.broker_url or "").startswith("filesystem://"):
        return
    options = sender.conf.broker_transport_options or {}
    for key in FILESYSTEM_BROKER_FOLDERS:
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@app.on_after_configure.connect
def _queue_prefix(sender: Celery, **kwargs) -> None:
    from django.conf import settings

    if settings.JOB_QUEUE_PREFIX:
        job_queues_name(sender, prefix=settings.JOB_QUEUE_PREFIX)


def job_queues_name(celery_app: Celery, *, prefix: str) -> list[str]:
    """Name this process's queues "<prefix><queue>": the settings' queues, routes and default queue with their
    names prefixed (JOB_QUEUE_PREFIX, applied when the app is configured). Tests and benchmarks that share a
    broker with others call it with a prefix of their own, and with the settings' prefix to return. Returns
    the queue names, as a worker's ``-Q`` takes them."""
    from django.conf import settings

    def named(name: str) -> str:
        return f"{prefix}{name}"

    celery_app.conf.task_queues = {
        named(name): {**options, "exchange": named(options["exchange"]), "routing_key": named(options["routing_key"])}
        for name, options in settings.CELERY_TASK_QUEUES.items()
    }
    celery_app.conf.task_default_queue = named(settings.CELERY_TASK_DEFAULT_QUEUE)
    celery_app.conf.task_routes = {
        task: {**route, "queue": named(route["queue"])} for task, route in settings.CELERY_TASK_ROUTES.items()
    }
    # Celery keeps the queues, the default queue and the router it built from the names it had before.
    if "amqp" in celery_app.__dict__:
        for built in ("queues", "default_queue", "router"):
            celery_app.amqp.__dict__.pop(built, None)
        celery_app.amqp.flush_routes()
    return [named(name) for name in settings.JOB_QUEUES]
