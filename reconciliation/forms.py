from django import forms
from django.utils.translation import gettext_lazy as _

from reconciliation.models import Channel, StatementFile, StatementKind


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class StatementUploadForm(forms.Form):
    channel = forms.ModelChoiceField(
        label=_("Channel"), queryset=Channel.objects.filter(is_active=True).order_by("code"), empty_label=None
    )
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("Detect from the file"))] + list(StatementKind.choices)
    )
    statement_date = forms.DateField(
        label=_("Statement date"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty to take the date from the file."),
    )
    files = MultipleFileField(label=_("Files"), widget=MultipleFileInput(attrs={"multiple": True}))


class StatementFilterForm(forms.Form):
    channel = forms.ModelChoiceField(
        label=_("Channel"), required=False, queryset=Channel.objects.order_by("code"), empty_label=_("All channels")
    )
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("All kinds"))] + list(StatementKind.choices))
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All statuses"))] + list(StatementFile.Status.choices)
    )
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
