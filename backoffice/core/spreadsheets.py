"""Import widgets and spreadsheet-safe exports.

A cell that starts with = + - @ TAB or CR is read as a formula by spreadsheet programs (CSV/formula
injection), and so is one whose first non-blank character is such (some programs skip leading spaces) or
a full-width ＝ ＋ － ＠ (which some programs fold to the ASCII ones). Text cells starting so are prefixed
with an apostrophe; numbers (Decimal, int) are left as numbers so amounts stay summable.
"""

from __future__ import annotations

import tablib
from django.utils.translation import gettext as _
from import_export import resources, widgets

from backoffice.core.masking import display_personal, personal_fields

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def neutralise_cell(value):
    if isinstance(value, str) and (value.startswith(FORMULA_TRIGGERS) or value.lstrip(" \u3000").startswith(FORMULA_TRIGGERS)):
        return "'" + value
    return value


def neutralise_row(row) -> list:
    return [neutralise_cell(value) for value in row]


class SafeExportResource(resources.ModelResource):
    """A ModelResource whose exports are neutralised and masked for the requesting user: the model's
    personal fields (its PERSONAL_FIELDS) are exported as that user may see them."""

    def __init__(self, *, user=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        kind = personal_fields(type(instance)).get(field.attribute or "")
        return display_personal(self.user, value, kind) if kind else value

    def export(self, *args, **kwargs) -> tablib.Dataset:
        dataset = super().export(*args, **kwargs)
        safe = tablib.Dataset(headers=dataset.headers)
        for row in dataset:
            safe.append(neutralise_row(row))
        return safe


class LookupWidget(widgets.ForeignKeyWidget):
    """A foreign key given by a natural key; an unknown key is a field error naming the value."""

    def clean(self, value, row=None, **kwargs):
        try:
            return super().clean(value, row, **kwargs)
        except self.model.DoesNotExist:
            raise ValueError(
                _("No %(model)s with %(field)s '%(value)s'.")
                % {"model": self.model._meta.verbose_name, "field": self.field, "value": value}
            ) from None
