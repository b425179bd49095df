"""The audit trail screen (every tracked change, who made it and from where, translated), and the staff
administrator's screens: staff accounts, roles, API tokens."""

import json
from decimal import Decimal

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import TextField
from django.db.models.functions import Cast
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from pghistory.admin import EventsAdmin
from pghistory.admin.core import EventModelFilter, LabelFilter
from rest_framework.authtoken.admin import TokenProxy

from backoffice.models import ApiToken
from backoffice.services.tokens import ISSUE_PERMISSION, api_token_issue, api_token_revoke

ACTION_LABELS = {
    "insert": _("created"),
    "update": _("changed"),
    "delete": _("deleted"),
    "granted": _("granted"),
    "taken away": _("taken away"),
}


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
        names: dict = {}  # the related records this page names, each looked up once

        @admin.display(description=_("changes (before → after)"))
        def changes(event):
            return self.changes(event, names)

        return ["when", "action", "object_type", "object_id", "who", "where", changes]

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

    def get_queryset(self, request):
        # The diff as text, read back with decimals as Decimal: money never passes through a float.
        return super().get_queryset(request).annotate(diff_text=Cast("pgh_diff", TextField()))

    def changes(self, event, names: dict):
        text = getattr(event, "diff_text", None)
        diff = json.loads(text, parse_float=Decimal) if text else (event.pgh_diff or {})
        if not diff:
            return "—"
        model = _tracked_model(event)
        return format_html_join(
            "",
            "<div><b>{}</b>: {} → {}</div>",
            (
                (_field_label(model, name), _shown(model, name, before, names), _shown(model, name, after, names))
                for name, (before, after) in sorted(diff.items())
            ),
        )


def _shown(model, name: str, value, names: dict) -> str:
    """A value of the trail as people read it: a choice's label, a local time, a decimal as written, a
    yes/no, a related record's name (looked up once per page, kept in ``names``), JSON as JSON (never
    Python's dict text), and "—" for nothing."""
    if value is None or value == "" or value == {} or value == []:
        return "—"
    field = _field(model, name)
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(field, models.DateTimeField) and isinstance(value, str):
        moment = parse_datetime(value)
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else value
    if isinstance(field, models.DecimalField) and isinstance(value, (Decimal, int, str)):
        try:
            return format(Decimal(value).quantize(Decimal(1).scaleb(-field.decimal_places)), "f")
        except ArithmeticError:
            return str(value)
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(field, models.ForeignKey):
        key = (field.related_model, value)
        if key not in names:
            related = field.related_model._default_manager.filter(pk=value).first()
            names[key] = str(related) if related is not None else f"#{value}"
        return names[key]
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _field(model, name: str):
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        try:
            return model._meta.get_field(name.removesuffix("_id"))
        except FieldDoesNotExist:
            return None


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


# --- Staff and API tokens ----------------------------------------------------------------------------


class StaffUserAdmin(UserAdmin):
    """Staff accounts as the staff administrator keeps them: only a superuser grants superuser or rights
    outside the roles, and nobody changes their own roles, rights or standing."""

    SELF_LOCKED = ("groups", "user_permissions", "is_superuser", "is_staff", "is_active")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
        if obj is not None and obj.pk == request.user.pk:
            fields += [name for name in self.SELF_LOCKED if name not in fields]
        return fields


class RoleAdmin(GroupAdmin):
    """What a role may do is defined in code (backoffice.core.roles): only a superuser edits it here."""

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else [*fields, "permissions"]


class ApiTokenIssueForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "name")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued here (the key shown once, on the page that follows) and revoked, never edited
    or deleted: their trail stays."""

    list_display = ("name", "user", "prefix", "created_at", "created_by", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "user__username", "prefix")
    actions = ("revoke",)
    readonly_fields = ("user", "name", "prefix", "created_at", "created_by", "last_used_at", "revoked_at", "revoked_by")

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenIssueForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_fields(self, request, obj=None):
        return ("user", "name") if obj is None else self.readonly_fields

    def has_add_permission(self, request):
        return request.user.has_perm(ISSUE_PERMISSION)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        token, key = api_token_issue(
            user=form.cleaned_data["user"], name=form.cleaned_data["name"], acting_user=request.user, now=timezone.now()
        )
        obj.pk = token.pk
        request._issued_key = key

    def response_add(self, request, obj, post_url_continue=None):
        token = ApiToken.objects.select_related("user").get(pk=obj.pk)
        context = {**self.admin_site.each_context(request), "token": token, "key": request._issued_key, "opts": self.opts}
        return TemplateResponse(request, "admin/backoffice/apitoken/issued.html", context)

    @admin.action(description=_("Revoke the selected tokens"), permissions=["issue"])
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token, acting_user=request.user, now=timezone.now())
        self.message_user(request, _("The tokens are revoked: calls with them are refused from now on."))

    def has_issue_permission(self, request):
        return request.user.has_perm(ISSUE_PERMISSION)


_user_model = get_user_model()
for _model, _admin_class in ((_user_model, StaffUserAdmin), (Group, RoleAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)  # plain tokens are gone: backoffice.ApiToken
