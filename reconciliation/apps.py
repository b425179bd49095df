from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = _("Reconciliation")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        # Register the Celery tasks in every process, so services can enqueue them by name.
        from reconciliation import tasks  # noqa: F401
        from reconciliation.models import BankAccount, Channel
        from reconciliation.services.postings import chart_follows_configuration

        # The books' chart follows the configuration: a new bank account or channel has its ledger accounts.
        for model in (BankAccount, Channel):
            post_save.connect(chart_follows_configuration, sender=model, dispatch_uid=f"chart_follows_{model.__name__}")
