"""Forms of the books' screens."""

from __future__ import annotations

from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import LedgerAccount, Voucher

ENTRY_ROWS = 6


class AsOfForm(forms.Form):
    date = forms.DateField(label=_("As of"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class VoucherFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[("", "—"), *Voucher.Status.choices])
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", "—"), *Voucher.Kind.choices])
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class OfflineVoucherForm(forms.Form):
    business_date = forms.DateField(label=_("Business date"), widget=forms.DateInput(attrs={"type": "date"}), initial=date.today)
    memo = forms.CharField(
        label=_("What it books"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("E.g. a bank charge paid at the counter, a transfer made outside the system."),
    )


class EntryRowForm(forms.Form):
    ledger_account = forms.ModelChoiceField(
        label=_("Ledger account"), queryset=LedgerAccount.objects.filter(is_active=True), required=False
    )
    debit = forms.DecimalField(label=_("Debit"), required=False, min_value=0, max_digits=19, decimal_places=4)
    credit = forms.DecimalField(label=_("Credit"), required=False, min_value=0, max_digits=19, decimal_places=4)
    memo = forms.CharField(label=_("Memo"), required=False, max_length=300)

    def clean(self):
        data = super().clean()
        if data.get("ledger_account") is None and (data.get("debit") or data.get("credit")):
            raise forms.ValidationError(_("Choose the ledger account of this amount."))
        return data


EntryRowFormSet = forms.formset_factory(EntryRowForm, extra=ENTRY_ROWS, max_num=20)


class DecisionForm(forms.Form):
    comment = forms.CharField(label=_("Comment"), required=False, max_length=300)
