from decimal import Decimal

from django import forms
from django.forms.utils import ErrorDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reconciliation.models import Action, BankAccount, Channel, RunStage, StatementFile, StatementKind
from reconciliation.selectors.bank_journal import MAX_DAYS
from reconciliation.services.engine.runs import run_date_problem


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
        label=_("Statement date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty to take the date from the file."),
    )
    files = MultipleFileField(label=_("Files"), widget=MultipleFileInput(attrs={"multiple": True}))

    def __init__(self, *args, upload_refusal: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.upload_refusal = upload_refusal

    def full_clean(self):
        """An upload cut off for its size (backoffice/core/uploads.py) is refused with that reason alone, not
        with the missing file's or fields' "required"."""
        if self.upload_refusal is None:
            return super().full_clean()
        self._errors, self.cleaned_data = ErrorDict(renderer=self.renderer), {}
        self.add_error("files", self.upload_refusal)


class ReplaceForm(forms.Form):
    """This file is the channel's corrected version of an earlier file of the same channel, kind and date."""

    replaces = forms.ModelChoiceField(label=_("It replaces"), queryset=StatementFile.objects.none(), empty_label=None)
    reason = forms.CharField(
        label=_("Why"),
        min_length=5,
        max_length=500,
        help_text=_("What the channel corrected, and who told you (kept with both files)."),
    )

    def __init__(self, *args, statement_file: StatementFile, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["replaces"].queryset = (
            StatementFile.objects.filter(
                channel=statement_file.channel,
                kind=statement_file.kind,
                statement_date=statement_file.statement_date,
                superseded_by__isnull=True,
            )
            .exclude(pk=statement_file.pk)
            .exclude(status=StatementFile.Status.FAILED)
            .order_by("-received_at", "-id")
        )
        self.fields["replaces"].label_from_instance = lambda f: (
            f"#{f.pk} {f.original_name or ''} ({f.received_at:%Y-%m-%d %H:%M})"
        )


class RunStartForm(forms.Form):
    channel = forms.ModelChoiceField(
        label=_("Channel"), queryset=Channel.objects.filter(is_active=True).order_by("code"), empty_label=None
    )
    business_date = forms.DateField(label=_("Business date"), widget=forms.DateInput(attrs={"type": "date"}))
    stage = forms.ChoiceField(label=_("Stage"), choices=RunStage.choices, required=False, initial=RunStage.TRANSACTION)

    def clean(self):
        data = super().clean()
        day, channel = data.get("business_date"), data.get("channel")
        if day is not None:
            problem = run_date_problem(day, today=timezone.localdate(), channel=channel)
            if problem:
                self.add_error("business_date", problem)
        return data


class ClearingForm(forms.Form):
    channel = forms.ModelChoiceField(label=_("Channel"), queryset=Channel.objects.order_by("code"), empty_label=None)
    date = forms.DateField(label=_("Business date"), widget=forms.DateInput(attrs={"type": "date"}))


class BankJournalForm(forms.Form):
    account = forms.ModelChoiceField(
        label=_("Bank account"),
        queryset=BankAccount.objects.filter(is_active=True).select_related("bank").order_by("bank__code", "account_no"),
        empty_label=None,
    )
    date_from = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        first, last = data.get("date_from"), data.get("date_to")
        if first and last:
            if last < first:
                raise forms.ValidationError(_("The end date is before the start date."))
            if (last - first).days >= MAX_DAYS:
                raise forms.ValidationError(_("Show at most %(days)d days at a time.") % {"days": MAX_DAYS})
        return data


class ProposeForm(forms.Form):
    """A clerk's proposal; which details matter depends on the action (checked by the service)."""

    action = forms.ChoiceField(label=_("Action"), choices=Action.choices)
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=5,
        help_text=_("Why this resolution is right: what you checked, with whom."),
    )
    amount = forms.DecimalField(
        label=_("Amount"),
        required=False,
        min_value=Decimal("0.01"),
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "class": "short"}),
    )
    # Codes of the chart of accounts (the page offers them as a list); the service refuses any other.
    debit_account = forms.CharField(
        label=_("Debit account"), required=False, max_length=80, widget=forms.TextInput(attrs={"list": "chart-accounts"})
    )
    credit_account = forms.CharField(
        label=_("Credit account"), required=False, max_length=80, widget=forms.TextInput(attrs={"list": "chart-accounts"})
    )
    memo = forms.CharField(label=_("Memo"), required=False, max_length=200)
    days = forms.IntegerField(
        label=_("Business days"), required=False, min_value=1, max_value=10, widget=forms.NumberInput(attrs={"class": "short"})
    )

    def __init__(self, *args, allowed: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        if allowed:
            self.fields["action"].choices = [(a, Action(a).label) for a in allowed]

    def params(self) -> dict:
        data = self.cleaned_data
        return {
            k: str(v) if isinstance(v, Decimal) else v
            for k in ("amount", "debit_account", "credit_account", "memo", "days")
            if (v := data.get(k)) not in (None, "")
        }


class DecisionForm(forms.Form):
    comment = forms.CharField(label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}))


class ClaimRecoveredForm(forms.Form):
    reference = forms.CharField(label=_("Reference of the money received"), max_length=100)


class BulkForm(forms.Form):
    """An action on the items ticked in the queue (their ids come as a list of 'ids' values)."""

    bulk_action = forms.ChoiceField(
        label=_("With the ticked items"),
        choices=[
            ("assign_me", _("Assign to me")),
            ("extend", _("Propose extending the carry-over")),
            ("pair", _("Pair manually (手工勾兑)…")),
        ],
    )
    days = forms.IntegerField(
        label=_("Business days"), required=False, min_value=1, max_value=10, widget=forms.NumberInput(attrs={"class": "short"})
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class PairForm(forms.Form):
    reason = forms.CharField(
        label=_("Why these are one payment"),
        min_length=5,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("E.g. our order was keyed under a wrong number; the channel split one payment in two."),
    )


class SavedFilterForm(forms.Form):
    name = forms.CharField(label=_("Save this filter as"), max_length=80)
    query = forms.CharField(widget=forms.HiddenInput, required=False, max_length=1000)
