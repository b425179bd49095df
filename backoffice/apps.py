from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _
from pghistory.apps import PGHistoryConfig


class BackofficeConfig(AppConfig):
    default = True  # this module holds more than one AppConfig
    name = "backoffice"
    verbose_name = _("Back office")

    def ready(self) -> None:
        from backoffice.core.roles import sync_roles_after_migrate

        # Keep the staff groups' permissions complete when later migrations add models.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="backoffice.sync_roles")


class AuditTrailConfig(PGHistoryConfig):
    """pghistory under a translated label."""

    verbose_name = _("Audit trail")
