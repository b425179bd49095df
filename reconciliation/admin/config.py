"""Configuration in the admin: banks, bank accounts, holidays, channels, fee models, statement formats and sources."""

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.db import transaction
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin

from backoffice.core.admin import DECIMAL_OVERRIDES, PersonalDataAdminMixin
from backoffice.core.money import format_money, format_percent
from reconciliation import parsers
from reconciliation.admin.resources import BankAccountResource, BankResource, ChannelResource, FeeModelResource
from reconciliation.models import (
    Bank,
    BankAccount,
    Channel,
    FeeModel,
    FeeTier,
    FormatCode,
    Holiday,
    StatementFormat,
    StatementKind,
    StatementSource,
)
from reconciliation.services.channels.fees import FeeSpec, fee_compute
from reconciliation.services.channels.schedules import channel_schedule_sync, source_schedule_remove, source_schedule_sync
from reconciliation.services.intake.fetch import statements_fetch_later
from reconciliation.services.intake.messages import message_text
from reconciliation.services.intake.statements import channel_formats_accepted

# Amounts shown as worked examples on a fee model's page.
FEE_EXAMPLE_AMOUNTS = tuple(Decimal(a) for a in ("0.01", "1", "100", "10000", "100000", "1000000"))


@admin.register(Bank)
class BankAdmin(ImportExportModelAdmin):
    resource_classes = [BankResource]
    list_display = ("code", "name", "swift_bic", "cnaps_code", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name", "swift_bic", "cnaps_code")


@admin.register(BankAccount)
class BankAccountAdmin(PersonalDataAdminMixin, ImportExportModelAdmin):
    resource_classes = [BankAccountResource]
    list_display = ("account_name", "bank", "kind", "account_no", "currency", "is_active")
    list_filter = ("kind", "currency", "is_active", "bank")
    list_select_related = ("bank",)
    search_fields = ("account_name", "account_no", "bank__name")
    fields = ("bank", "kind", "account_no", "account_name", "branch", "currency", "is_active")


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ("day", "kind", "name")
    list_filter = ("kind",)
    date_hierarchy = "day"


@admin.register(Channel)
class ChannelAdmin(ImportExportModelAdmin):
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # The channel's daily run follows its statement time and active flag.
        transaction.on_commit(lambda: channel_schedule_sync(channel=obj))

    formfield_overrides = DECIMAL_OVERRIDES
    resource_classes = [ChannelResource]
    list_display = (
        "code",
        "name",
        "bank",
        "kind",
        "currency",
        "settlement_cycle",
        "cutoff_time",
        "carry_over_days",
        "match_key",
        "amount_tolerance",
        "is_active",
    )
    list_filter = ("kind", "settlement_cycle", "is_active", "bank")
    list_select_related = ("bank",)
    search_fields = ("code", "name", "bank__name")
    autocomplete_fields = ("settlement_account",)
    readonly_fields = ("formats_taken",)
    fieldsets = (
        (None, {"fields": ("code", "name", "bank", "kind", "currency", "is_active", "formats_taken")}),
        (
            _("Settlement"),
            {
                "fields": (
                    "settlement_account",
                    "settlement_cycle",
                    "settlement_times",
                    "cutoff_time",
                    "statement_ready_time",
                    "calendar",
                )
            },
        ),
        (
            _("Matching"),
            {"fields": ("match_key", "amount_tolerance", "fee_tolerance", "carry_over_days", "double_payment_window_hours")},
        ),
        (_("Approval and write-off"), {"fields": ("approval_threshold", "write_off_threshold")}),
    )

    @admin.display(description=_("statement formats taken"))
    def formats_taken(self, obj: Channel) -> str:
        """What intake takes from this channel: its configured statement formats of a kind, else its kind's."""
        if obj.pk is None:
            return "-"
        parts = []
        for kind in StatementKind:
            accepted = channel_formats_accepted(channel=obj, kind=kind)
            labels = _("any format") if accepted is None else ", ".join(sorted(str(FormatCode(c).label) for c in accepted))
            parts.append((kind.label, labels or _("none")))
        return format_html_join("", "<div>{}: {}</div>", parts)


class FeeTierInline(admin.TabularInline):
    model = FeeTier
    formfield_overrides = DECIMAL_OVERRIDES
    extra = 0
    fields = ("lower_bound", "rate", "fixed_amount")
    ordering = ("lower_bound",)


@admin.register(FeeModel)
class FeeModelAdmin(ImportExportModelAdmin):
    resource_classes = [FeeModelResource]
    formfield_overrides = DECIMAL_OVERRIDES
    inlines = [FeeTierInline]
    list_display = (
        "channel",
        "business_type",
        "rate_percent",
        "fixed_amount",
        "min_fee",
        "max_fee",
        "rounding",
        "charging_mode",
        "valid_from",
        "valid_to",
    )
    list_filter = ("channel", "business_type", "charging_mode", "rounding")
    list_select_related = ("channel",)
    search_fields = ("channel__code", "channel__name", "name")
    autocomplete_fields = ("charged_account",)
    readonly_fields = ("examples",)
    fieldsets = (
        (None, {"fields": ("channel", "business_type", "name")}),
        (_("Price"), {"fields": ("rate", "fixed_amount", "min_fee", "max_fee", "rounding")}),
        (_("Charging"), {"fields": ("charging_mode", "charged_account")}),
        (_("Validity"), {"fields": ("valid_from", "valid_to")}),
        (_("Worked examples"), {"fields": ("examples",)}),
    )

    @admin.display(description=_("rate"), ordering="rate")
    def rate_percent(self, fee_model: FeeModel) -> str:
        return format_percent(fee_model.rate)

    @admin.display(description=_("fee for sample amounts"))
    def examples(self, fee_model: FeeModel):
        if fee_model is None or fee_model.pk is None:
            return _("Saved fee models show worked examples here.")
        spec = FeeSpec.of(fee_model)
        rows = []
        for amount in FEE_EXAMPLE_AMOUNTS:
            quote = fee_compute(spec=spec, amount=amount)
            rows.append(
                (
                    format_money(amount, spec.currency),
                    format_money(quote.fee, spec.currency),
                    format_money(quote.net_amount, spec.currency),
                )
            )
        header = format_html_join("", "<th>{}</th>", [(_("amount"),), (_("fee"),), (_("net settlement"),)])
        body = format_html_join("", '<tr><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>', rows)
        return format_html_join("", "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", [(header, body)])


class StatementFormatForm(forms.ModelForm):
    class Meta:
        model = StatementFormat
        fields = (
            "channel", "kind", "format_code", "name", "encoding",
            "strict_totals", "refuse_repeated_lines", "is_default", "config",
        )  # fmt: skip
        widgets = {"config": forms.Textarea(attrs={"rows": 18, "cols": 90, "class": "mono"})}
        help_texts = {
            "config": _(
                "Only for the configurable CSV/XLSX format, as JSON: kind, file_type, encoding, delimiter, header_row, "
                "columns {field: header name or [alternatives]}, debit_credit (separate_columns / signed / indicator), "
                "date_formats, datetime_formats, amount_format, status_map, type_map, footer_prefixes, control_totals."
            )
        }

    def clean(self):
        cleaned = super().clean()
        spec = parsers.FORMATS.get(cleaned.get("format_code") or "")
        if spec is not None and spec.kind is not None and cleaned.get("kind") and spec.kind != cleaned["kind"]:
            held = {"format": FormatCode(spec.code).label, "kind": StatementKind(spec.kind).label}
            self.add_error("kind", _("The format %(format)s holds statements of the kind %(kind)s.") % held)
        if cleaned.get("format_code") == FormatCode.GENERIC:
            try:
                parsed = parsers.GenericFormatConfig.from_dict(cleaned.get("config") or {})
            except parsers.FormatConfigError as exc:
                reason = message_text(exc.problem)  # in the administrator's language
                self.add_error("config", _("Setting %(key)s: %(reason)s") % {"key": exc.key, "reason": reason})
            else:
                if parsed.kind != cleaned.get("kind"):
                    self.add_error("kind", _("The mapping reads %(kind)s statements.") % {"kind": parsed.kind})
        elif cleaned.get("config"):
            self.add_error("config", _("Only the configurable format takes a mapping; leave it empty."))
        return cleaned


@admin.register(StatementFormat)
class StatementFormatAdmin(admin.ModelAdmin):
    form = StatementFormatForm
    list_display = ("channel", "kind", "format_code", "name", "strict_totals", "is_default")
    list_filter = ("kind", "format_code", "channel")
    list_select_related = ("channel",)


@admin.register(StatementSource)
class StatementSourceAdmin(admin.ModelAdmin):
    list_display = ("channel", "kind", "transport", "path", "filename_pattern", "fetch_time", "is_active", "last_fetched_at")
    list_filter = ("transport", "kind", "is_active", "channel")
    list_select_related = ("channel",)
    readonly_fields = ("last_fetched_at", "last_result")
    fieldsets = (
        (None, {"fields": ("channel", "kind", "transport", "path", "filename_pattern", "fetch_time", "is_active")}),
        (_("SFTP"), {"fields": ("host", "port", "username", "password_env", "private_key_path", "host_key")}),
        (_("Last fetch"), {"fields": ("last_fetched_at", "last_result")}),
    )
    actions = ["fetch_now"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        transaction.on_commit(lambda: source_schedule_sync(source=obj))

    def delete_model(self, request, obj):
        source_schedule_remove(source=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for source in queryset:
            source_schedule_remove(source=source)
        super().delete_queryset(request, queryset)

    @admin.action(description=_("Fetch yesterday's files now"))
    def fetch_now(self, request, queryset):
        count = statements_fetch_later(sources=queryset)
        self.message_user(request, _("%(n)d fetch(es) queued; see each source's last result.") % {"n": count})
