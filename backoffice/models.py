"""The audit trail as staff see it: pghistory's events with the request context, under our labels."""

import pghistory
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from pghistory.models import Events


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
