from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = _("Reconciliation")

    def ready(self) -> None:
        # Register the Celery tasks in every process, so services can enqueue them by name.
        from reconciliation import tasks  # noqa: F401
