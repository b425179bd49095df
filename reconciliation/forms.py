from django import forms
from django.utils.translation import gettext_lazy as _

from reconciliation.models import Channel, Discrepancy, ReconciliationRun, StatementFile, StatementKind


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


class RunStartForm(forms.Form):
    channel = forms.ModelChoiceField(
        label=_("Channel"), queryset=Channel.objects.filter(is_active=True).order_by("code"), empty_label=None
    )
    business_date = forms.DateField(label=_("Business date"), widget=forms.DateInput(attrs={"type": "date"}))


class RunFilterForm(forms.Form):
    channel = forms.ModelChoiceField(
        label=_("Channel"), required=False, queryset=Channel.objects.order_by("code"), empty_label=_("All channels")
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All statuses"))] + list(ReconciliationRun.Status.choices)
    )
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class DiscrepancyFilterForm(forms.Form):
    channel = forms.ModelChoiceField(
        label=_("Channel"), required=False, queryset=Channel.objects.order_by("code"), empty_label=_("All channels")
    )
    type = forms.ChoiceField(label=_("Type"), required=False, choices=[("", _("All types"))] + list(Discrepancy.Type.choices))
    state = forms.ChoiceField(label=_("State"), required=False, choices=[("", _("All states"))] + list(Discrepancy.State.choices))
    direction = forms.ChoiceField(
        label=_("Overage/shortage"), required=False, choices=[("", _("Both"))] + list(Discrepancy.Direction.choices)
    )
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    amount_min = forms.DecimalField(label=_("Effect at least"), required=False, min_value=0,
                                    widget=forms.NumberInput(attrs={"step": "0.01", "class": "short"}))
    amount_max = forms.DecimalField(label=_("Effect at most"), required=False, min_value=0,
                                    widget=forms.NumberInput(attrs={"step": "0.01", "class": "short"}))
    age_min = forms.IntegerField(label=_("Age from (days)"), required=False, min_value=0,
                                 widget=forms.NumberInput(attrs={"class": "short"}))
    age_max = forms.IntegerField(label=_("Age to (days)"), required=False, min_value=0,
                                 widget=forms.NumberInput(attrs={"class": "short"}))
    run = forms.IntegerField(required=False, widget=forms.HiddenInput)
