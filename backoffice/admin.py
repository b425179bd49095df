"""The audit trail screen: every tracked change, who made it and from where, translated."""

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from pghistory.admin import EventsAdmin
from pghistory.admin.core import EventModelFilter, LabelFilter

ACTION_LABELS = {"insert": _("created"), "update": _("changed"), "delete": _("deleted")}


class ActionFilter(LabelFilter):
    title = _("action")

    def lookups(self, request, model_admin):
        return [(value, ACTION_LABELS.get(value, value)) for value, _label in super().lookups(request, model_admin)]


class ObjectTypeFilter(EventModelFilter):
    title = _("object type")

    def lookups(self, request, model_admin):
        rows = []
        for value, label in super().lookups(request, model_admin):
            event_model = apps.get_model(label)
            tracked = getattr(event_model, "pgh_tracked_model", None)
            rows.append((value, tracked._meta.verbose_name if tracked else label))
        return rows


class AuditEventAdmin(EventsAdmin):
    """Read-only for everyone: the admin site offers no add, change or delete on events."""

    def get_list_filter(self, request):
        return [ActionFilter, ObjectTypeFilter, *super().get_list_filter(request)[2:]]

    def get_list_display(self, request):
        return ["when", "action", "object_type", "object_id", "who", "where", "changes"]

    @admin.display(description=_("time"), ordering="pgh_created_at")
    def when(self, event):
        return event.pgh_created_at

    @admin.display(description=_("action"))
    def action(self, event):
        return ACTION_LABELS.get(event.pgh_label, event.pgh_label)

    @admin.display(description=_("object type"))
    def object_type(self, event):
        model = _tracked_model(event)
        return model._meta.verbose_name if model else event.pgh_obj_model

    @admin.display(description=_("object id"))
    def object_id(self, event):
        return event.pgh_obj_id

    @admin.display(description=_("staff user"))
    def who(self, event):
        return event.user or _("system")

    @admin.display(description=_("from"))
    def where(self, event):
        return event.url or ""

    @admin.display(description=_("changes (before → after)"))
    def changes(self, event):
        diff = event.pgh_diff or {}
        if not diff:
            return "—"
        model = _tracked_model(event)
        return format_html_join(
            "",
            "<div><b>{}</b>: {} → {}</div>",
            ((_field_label(model, name), before, after) for name, (before, after) in sorted(diff.items())),
        )


def _tracked_model(event):
    try:
        return apps.get_model(event.pgh_obj_model)
    except (LookupError, ValueError):
        return None


def _field_label(model, name: str) -> str:
    if model is None:
        return name
    try:
        return str(model._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name
