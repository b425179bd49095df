"""The filters of every list, one FilterSet per list, shared by the screens (their filter forms), the
API (``filterset_class``), the selectors and the exports, so a list means the same thing everywhere.

Parameter names are the screens' (``date_from``, ``date_to``); the API's older names
(``business_date_from``/``_to``) are kept as hidden aliases. A channel is given by its code (the
API) or its id (the screens' select and bookmarks).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reconciliation.models import (
    UNRESOLVED_STATES,
    Channel,
    Discrepancy,
    PlatformTransaction,
    ReconciliationRun,
    RefundOrder,
    StatementFile,
    StatementKind,
    WorkflowEvent,
)
from reconciliation.models.runs import LIVE_FINDINGS, FindingChange

# A value of the discrepancy state filter: every state but RESOLVED.
UNRESOLVED = "UNRESOLVED"

# What a run did to a discrepancy, as the ``finding`` parameter narrows a run's list: found it (new or
# again: still there, found different, opened after its window) or matched and closed it.
FOUND, CLOSED = "found", "closed"
RUN_FINDING_CHOICES = {FOUND: LIVE_FINDINGS, CLOSED: (FindingChange.CLOSED,)}


def run_story_filter(queryset: QuerySet[Discrepancy], *, run_id: int, finding: str = "") -> QuerySet[Discrepancy]:
    """The discrepancies a run concluded about: its RunFinding rows (append-only), so a run's list means
    the same whatever later runs or people did. ``finding`` narrows it to what the run found or closed.
    One filter() call, so the run and the change are conditions on the same finding row. The run's
    counts (``reconciliation.selectors.runs.run_stories``) count these same rows."""
    conditions = {"findings__run": run_id}
    if finding in RUN_FINDING_CHOICES:
        conditions["findings__change__in"] = RUN_FINDING_CHOICES[finding]
    return queryset.filter(**conditions)


def _date(label, field_name: str, lookup: str) -> django_filters.DateFilter:
    """A date bound of the list's own date column, picked with the browser's date picker."""
    return django_filters.DateFilter(
        label=label, field_name=field_name, lookup_expr=lookup, widget=forms.DateInput(attrs={"type": "date"})
    )


def _hidden_date(field_name: str, lookup: str = "exact") -> django_filters.DateFilter:
    """A date parameter the API and links use, not shown in the screens' filter form."""
    return django_filters.DateFilter(field_name=field_name, lookup_expr=lookup, widget=forms.HiddenInput)


class DaysFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class IdFilter(django_filters.NumberFilter):
    """A record's id: a whole number from 1 to PostgreSQL's bigint maximum (beyond it: refused, not a 500)."""

    field_class = forms.IntegerField

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=ID_MAX, **kwargs)


# Bounds of what a filter reads, so a value past them is refused as invalid rather than failing in the
# database or in date arithmetic: ids are bigint, ages at most a century, amounts the money columns'
# 19 digits with 4 decimals.
ID_MAX = 2**63 - 1
AGE_MAX_DAYS = 36600


class ChannelField(forms.ModelChoiceField):
    """A channel by id (the screens' select, bookmarks, saved filters) or by code (the API). Codes start
    with a letter, so a value of digits is always an id."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip()
        lookup = {"pk": text} if text.isdigit() else {"code": text.upper()}
        try:
            return self.queryset.get(**lookup)
        except Channel.DoesNotExist:
            raise ValidationError(_("No channel %(value)s."), code="invalid_choice", params={"value": text}) from None


class ChannelFilter(django_filters.ModelChoiceFilter):
    field_class = ChannelField

    def __init__(self, **kwargs):
        super().__init__(queryset=Channel.objects.order_by("code"), label=_("Channel"), empty_label=_("All channels"), **kwargs)


class SortFilter(django_filters.OrderingFilter):
    """``sort=<name>`` or ``sort=-<name>``, always ending on the id so pages never overlap."""

    def __init__(self, *, default: str, **kwargs):
        self.default = default
        super().__init__(widget=forms.HiddenInput, **kwargs)

    def filter(self, qs: QuerySet, value):
        names = list(value or [self.default])
        ordering = [self.get_ordering_value(name) for name in names if name.lstrip("-") in self.param_map]
        if not ordering:
            ordering = [self.get_ordering_value(self.default)]
        tie = "-id" if ordering[-1].startswith("-") else "id"
        return qs.order_by(*ordering, tie)


class StatementFileFilter(django_filters.FilterSet):
    channel = ChannelFilter()
    kind = django_filters.ChoiceFilter(label=_("Kind"), choices=StatementKind.choices, empty_label=_("All kinds"))
    status = django_filters.ChoiceFilter(label=_("Status"), choices=StatementFile.Status.choices, empty_label=_("All statuses"))
    date_from = _date(_("From"), "statement_date", "gte")
    date_to = _date(_("To"), "statement_date", "lte")
    statement_date = _hidden_date("statement_date")

    class Meta:
        model = StatementFile
        fields = ("channel", "kind", "status", "date_from", "date_to", "statement_date")


class RunFilter(django_filters.FilterSet):
    channel = ChannelFilter()
    status = django_filters.ChoiceFilter(
        label=_("Status"), choices=ReconciliationRun.Status.choices, empty_label=_("All statuses")
    )
    date_from = _date(_("From"), "business_date", "gte")
    date_to = _date(_("To"), "business_date", "lte")
    business_date = _hidden_date("business_date")

    class Meta:
        model = ReconciliationRun
        fields = ("channel", "status", "date_from", "date_to", "business_date")


class DiscrepancyFilter(django_filters.FilterSet):
    """The discrepancy queue. Age counts whole days since the item's business date, as of ``today``
    (the local date unless given)."""

    channel = ChannelFilter()
    type = django_filters.ChoiceFilter(label=_("Type"), choices=Discrepancy.Type.choices, empty_label=_("All types"))
    state = django_filters.ChoiceFilter(
        label=_("State"),
        choices=[(UNRESOLVED, _("Not resolved")), *Discrepancy.State.choices],
        empty_label=_("All states"),
        method="filter_state",
    )
    direction = django_filters.ChoiceFilter(
        label=_("Overage/shortage"), choices=Discrepancy.Direction.choices, empty_label=_("Both")
    )
    date_from = _date(_("From"), "business_date", "gte")
    date_to = _date(_("To"), "business_date", "lte")
    amount_min = django_filters.NumberFilter(
        label=_("Effect at least"),
        field_name="abs_effect",
        lookup_expr="gte",
        min_value=0,
        max_digits=19,
        decimal_places=4,
        widget=forms.NumberInput(attrs={"step": "0.01", "class": "short"}),
    )
    amount_max = django_filters.NumberFilter(
        label=_("Effect at most"),
        field_name="abs_effect",
        lookup_expr="lte",
        min_value=0,
        max_digits=19,
        decimal_places=4,
        widget=forms.NumberInput(attrs={"step": "0.01", "class": "short"}),
    )
    age_min = DaysFilter(
        label=_("Age from (days)"),
        method="filter_age",
        min_value=0,
        max_value=AGE_MAX_DAYS,
        widget=forms.NumberInput(attrs={"class": "short"}),
    )
    age_max = DaysFilter(
        label=_("Age to (days)"),
        method="filter_age",
        min_value=0,
        max_value=AGE_MAX_DAYS,
        widget=forms.NumberInput(attrs={"class": "short"}),
    )
    # What a run concluded about (found, found again, or matched and closed), as on the run's page;
    # ``finding`` narrows it to what the run found or to what it closed.
    run = IdFilter(method="filter_run", widget=forms.HiddenInput)
    finding = django_filters.ChoiceFilter(
        choices=[(FOUND, _("found by the run")), (CLOSED, _("closed by the run"))],
        method="filter_finding",
        widget=forms.HiddenInput,
    )
    business_date = _hidden_date("business_date")
    business_date_from = _hidden_date("business_date", "gte")
    business_date_to = _hidden_date("business_date", "lte")
    sort = SortFilter(
        default="-date",
        fields={"business_date": "date", "effect": "effect", "abs_effect": "abs", "type": "type", "state": "state"},
    )

    class Meta:
        model = Discrepancy
        fields = ("channel", "type", "state", "direction", "date_from", "date_to")

    def __init__(self, data=None, *args, today: date | None = None, **kwargs):
        # Always bound, so the default sort applies to a list opened without parameters too.
        super().__init__(data if data is not None else {}, *args, **kwargs)
        self.today = today or timezone.localdate()

    def filter_state(self, queryset, name, value):
        if value == UNRESOLVED:
            return queryset.filter(state__in=UNRESOLVED_STATES)
        return queryset.filter(state=value)

    def filter_age(self, queryset, name, value):
        if name == "age_min":
            return queryset.filter(business_date__lte=self.today - timedelta(days=value))
        return queryset.filter(business_date__gte=self.today - timedelta(days=value))

    def filter_run(self, queryset, name, value):
        return run_story_filter(queryset, run_id=int(value), finding=self.form.cleaned_data.get("finding") or "")

    def filter_finding(self, queryset, name, value):
        return queryset  # applied with the run (filter_run); alone it means nothing


class TransactionFilter(django_filters.FilterSet):
    channel = ChannelFilter()
    business_date = django_filters.DateFilter()
    business_date_from = django_filters.DateFilter(field_name="business_date", lookup_expr="gte")
    business_date_to = django_filters.DateFilter(field_name="business_date", lookup_expr="lte")
    status = django_filters.ChoiceFilter(choices=PlatformTransaction.Status.choices)
    business_type = django_filters.CharFilter()
    channel_txn_no = django_filters.CharFilter()
    batch_no = django_filters.CharFilter()

    class Meta:
        model = PlatformTransaction
        fields = ("channel", "business_date", "status", "business_type", "channel_txn_no", "batch_no")


class RefundOrderFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RefundOrder.Status.choices)

    class Meta:
        model = RefundOrder
        fields = ("status",)


class WorkflowEventFilter(django_filters.FilterSet):
    """The workflow's audit trail; the dates are local (Asia/Shanghai) calendar days."""

    date_from = django_filters.DateFilter(label=_("From"), method="filter_from")
    date_to = django_filters.DateFilter(label=_("To"), method="filter_to")
    discrepancy = IdFilter(label=_("Discrepancy"), field_name="discrepancy_id")

    class Meta:
        model = WorkflowEvent
        fields = ("date_from", "date_to", "discrepancy")

    # Bounds as aware datetimes rather than at__date, which would convert every row's time in SQL.
    def filter_from(self, queryset, name, value):
        return queryset.filter(at__gte=timezone.make_aware(datetime.combine(value, time.min)))

    def filter_to(self, queryset, name, value):
        return queryset.filter(at__lt=timezone.make_aware(datetime.combine(value + timedelta(days=1), time.min)))
