"""The audit trail as staff see it: pghistory's events with the request context, under our labels."""

import pghistory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _
from pghistory.models import Events

from backoffice.core import history


class AuditEvent(Events):
    """Every tracked change (insert, update, delete) across the event tables, with the user and URL of
    the request that made it (written by pghistory's middleware into the event's context)."""

    user = pghistory.ProxyField(
        "pgh_context__user",
        models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True, related_name="+"),
    )
    url = pghistory.ProxyField("pgh_context__url", models.TextField(null=True))

    class Meta:
        proxy = True
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")


class OutboxJob(models.Model):
    """A background job kept in the database until the broker took it (the transactional outbox).

    A job is written in the same transaction as the work that asks for it, and sent once that commits;
    when the broker is unreachable the row waits and the sweeper sends it when the broker is back, so a
    saved run or file is never left without its job."""

    name = models.CharField(_("job"), max_length=100)
    kwargs = models.JSONField(_("arguments"), default=dict)
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    sent_at = models.DateTimeField(_("handed to the broker at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("send attempts"), default=0)
    last_error = models.TextField(_("last send error"), blank=True)

    class Meta:
        verbose_name = _("queued job")
        verbose_name_plural = _("queued jobs")
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(sent_at__isnull=True), name="outbox_unsent"),
            models.Index(fields=["name"], name="outbox_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.kwargs}"


class ApiToken(models.Model):
    """A credential a system (the payment core) calls the API with. Only a hash of the key is kept: the key
    itself is shown once, when the token is issued, and cannot be read back by anyone afterwards."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens", verbose_name=_("API user")
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("What uses it, e.g. “payment core, production”."))
    # The first characters of the key, to tell tokens apart in lists and logs; not enough to use it.
    prefix = models.CharField(_("key starts with"), max_length=8, db_index=True)
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("issued at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("issued by")
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("revoked by")
    )

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        permissions = [("issue_apitoken", _("Can issue and revoke API tokens"))]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# --- Staff changes in the audit trail -----------------------------------------------------------------
# Who is staff, in which role, with which rights, and which systems hold API tokens: recorded by database
# triggers like the money configuration, so a change made any way (admin, shell, SQL) is on the trail.
# Django's own models are tracked through proxies, so the triggers live in this app's migrations.
_User = get_user_model()


def _every_change():  # a tracker is bound to its model: new ones for each
    return pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent()


def _granted_or_taken():
    return pghistory.InsertEvent("granted"), pghistory.DeleteEvent("taken away")


@pghistory.track(*_every_change(), exclude=["password", "last_login"], model_name="StaffUserEvent", append_only=True)
class StaffUser(_User):
    class Meta:
        proxy = True
        verbose_name = _("staff user")
        verbose_name_plural = _("staff users")


@pghistory.track(*_granted_or_taken(), model_name="StaffRoleEvent", append_only=True)
class StaffRole(_User.groups.through):
    class Meta:
        proxy = True
        verbose_name = _("staff role")
        verbose_name_plural = _("staff roles")


@pghistory.track(*_granted_or_taken(), model_name="StaffPermissionEvent", append_only=True)
class StaffPermission(_User.user_permissions.through):
    class Meta:
        proxy = True
        verbose_name = _("staff user's own permission")
        verbose_name_plural = _("staff users' own permissions")


@pghistory.track(*_granted_or_taken(), model_name="RolePermissionEvent", append_only=True)
class RolePermission(Group.permissions.through):
    class Meta:
        proxy = True
        verbose_name = _("role permission")
        verbose_name_plural = _("role permissions")


pghistory.track(*_every_change(), exclude=["key_hash", "last_used_at"], append_only=True)(ApiToken)
