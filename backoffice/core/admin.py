"""Admin building blocks shared by the apps."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.db import models

from backoffice.core import masking
from backoffice.core.masking import can_view_personal_data, display_personal
from backoffice.core.money import plain_decimal


class PersonalDataAdminMixin:
    """Masks personal fields in lists, forms and read-only views for staff without the permission.

    The personal fields are the model's ``PERSONAL_FIELDS`` (see backoffice.core.masking).
    For such staff each of those fields is replaced, wherever the admin would show it, by a read-only
    callable bound to the request's user, so the raw value is never rendered. Admins using this
    mixin declare ``fields`` or ``fieldsets`` explicitly.
    """

    @property
    def personal_fields(self) -> dict[str, str]:
        return masking.personal_fields(self.model)

    def _masked(self, request, name: str):
        # One callable per request and field: the form's fields and its read-only fields must name
        # the very same object.
        cache = request.__dict__.setdefault("_masked_fields", {})
        key = (self.model, name)
        if key not in cache:
            kind = self.personal_fields[name]

            def masked(obj):
                return display_personal(request.user, getattr(obj, name), kind) if obj is not None else ""

            masked.short_description = self.model._meta.get_field(name).verbose_name
            masked.__name__ = f"masked_{name}"
            cache[key] = masked
        return cache[key]

    def _replace(self, request, names):
        if can_view_personal_data(request.user):
            return list(names)
        replaced = []
        for name in names:
            if isinstance(name, (list, tuple)):
                replaced.append(tuple(self._replace(request, name)))
            elif isinstance(name, str) and name in self.personal_fields:
                replaced.append(self._masked(request, name))
            else:
                replaced.append(name)
        return replaced

    def get_list_display(self, request):
        return self._replace(request, super().get_list_display(request))

    def get_fields(self, request, obj=None):
        return self._replace(request, super().get_fields(request, obj))

    def get_fieldsets(self, request, obj=None):
        return [
            (title, {**options, "fields": self._replace(request, options["fields"])})
            for title, options in super().get_fieldsets(request, obj)
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if can_view_personal_data(request.user):
            return readonly
        return [n for n in readonly if n not in self.personal_fields] + [
            self._masked(request, name) for name in self.personal_fields
        ]

    def get_export_resource_kwargs(self, request, **kwargs):
        return {**super().get_export_resource_kwargs(request, **kwargs), "user": request.user}

    def get_import_resource_kwargs(self, request, **kwargs):
        return {**super().get_import_resource_kwargs(request, **kwargs), "user": request.user}


class ReadOnlyInline(admin.TabularInline):
    """An inline that lists related rows with links; they are edited on their own pages."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DecimalInput(forms.TextInput):
    """Decimals as people write them: 0.006, 2.00, 0 (not 0E-8 or 2.0000)."""

    def format_value(self, value):
        if isinstance(value, Decimal):
            return plain_decimal(value)
        return super().format_value(value)


DECIMAL_OVERRIDES = {models.DecimalField: {"widget": DecimalInput(attrs={"class": "vDecimalField", "inputmode": "decimal"})}}


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by services only: the admin shows them, never edits them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
