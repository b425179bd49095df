"""Staff changes raise an alert: who was given which role, who became superuser, which token was issued.

The audit trail records every such change (database triggers, backoffice.models); this module also
tells people at once: a warning on the ``backoffice.security`` log, and a mail to SECURITY_ALERT_EMAILS
when set. Staff administration is a role of its own that holds nothing of money, and a staff
administrator never changes their own roles or rights (see StaffUserAdmin), so granting oneself a way
to move money takes a second person, and anyone else doing it is seen.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.mail import send_mail
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save, pre_save

from backoffice.models import ApiToken

log = logging.getLogger("backoffice.security")

# The fields of a staff account whose change is an alert (not a name or an e-mail address).
WATCHED_FIELDS = ("is_superuser", "is_staff", "is_active")


def staff_alert(subject: str, detail: str) -> None:
    """Log and, once the change commits, mail the security contacts."""
    log.warning("%s: %s", subject, detail)
    recipients = list(settings.SECURITY_ALERT_EMAILS)
    if recipients:
        transaction.on_commit(lambda: send_mail(f"[back office] {subject}", detail, None, recipients, fail_silently=True))


def _remember_watched(sender, instance, **kwargs) -> None:
    before = sender.objects.filter(pk=instance.pk).values(*WATCHED_FIELDS).first() if instance.pk else None
    instance._watched_before = before


def _user_saved(sender, instance, created, **kwargs) -> None:
    if created:
        staff_alert("staff account created", f"{instance.get_username()} (superuser: {instance.is_superuser})")
        return
    before = getattr(instance, "_watched_before", None) or {}
    changed = {
        name: (before.get(name), getattr(instance, name))
        for name in WATCHED_FIELDS
        if before.get(name) != getattr(instance, name)
    }
    if changed:
        detail = ", ".join(f"{name}: {old} → {new}" for name, (old, new) in sorted(changed.items()))
        staff_alert("staff account changed", f"{instance.get_username()}: {detail}")


def _roles_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "pre_clear") or (not pk_set and action != "pre_clear"):
        return
    verb = {"post_add": "given", "post_remove": "taken away", "pre_clear": "all taken away"}[action]
    if reverse:  # group.user_set.add(user…)
        users = ", ".join(get_user_model().objects.filter(pk__in=pk_set or ()).values_list("username", flat=True))
        staff_alert("staff role changed", f"role {instance.name} {verb}: {users}")
    else:
        groups = ", ".join(Group.objects.filter(pk__in=pk_set or ()).values_list("name", flat=True))
        staff_alert("staff role changed", f"{instance.get_username()}: role {verb} {groups}".strip())


def _token_saved(sender, instance, created, **kwargs) -> None:
    if created:
        staff_alert("API token issued", f"{instance} for {instance.user.get_username()}")


def connect_staff_alerts() -> None:
    user_model = get_user_model()
    pre_save.connect(_remember_watched, sender=user_model, dispatch_uid="backoffice.staff.remember")
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="backoffice.staff.saved")
    m2m_changed.connect(_roles_changed, sender=user_model.groups.through, dispatch_uid="backoffice.staff.roles")
    post_save.connect(_token_saved, sender=ApiToken, dispatch_uid="backoffice.staff.token")
