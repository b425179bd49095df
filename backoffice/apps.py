from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _
from pghistory.apps import PGHistoryConfig


class BackofficeConfig(AppConfig):
    default = True  # this module holds more than one AppConfig
    name = "backoffice"
    verbose_name = _("Back office")

    def ready(self) -> None:
        from backoffice import tasks  # noqa: F401  (registers the task names before anything enqueues)
        from backoffice.core.db_roles import grants_after_migrate
        from backoffice.core.roles import sync_roles_after_migrate
        from backoffice.services.staff import connect_staff_alerts

        connect_staff_alerts()

        # Keep the staff groups' permissions complete when later migrations add models.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="backoffice.sync_roles")
        # Keep the application's database role granted on what migrations created.
        post_migrate.connect(grants_after_migrate, dispatch_uid="backoffice.db_grants")


class AuditTrailConfig(PGHistoryConfig):
    """pghistory under a translated label."""

    verbose_name = _("Audit trail")
