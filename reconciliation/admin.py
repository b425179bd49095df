from decimal import Decimal

from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin

from backoffice.admin_mixins import DECIMAL_OVERRIDES, PersonalDataAdminMixin
from backoffice.money import format_money
from backoffice.templatetags.backoffice_tags import percent
from reconciliation.models import Bank, BankAccount, Channel, FeeModel, FeeTier, Holiday
from reconciliation.resources import BankAccountResource, BankResource, ChannelResource, FeeModelResource
from reconciliation.services.fees import FeeSpec, fee_compute

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
    personal_fields = {"account_no": "account_number"}
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
    formfield_overrides = DECIMAL_OVERRIDES
    resource_classes = [ChannelResource]
    list_display = (
        "code", "name", "bank", "kind", "currency", "settlement_cycle", "cutoff_time", "carry_over_days",
        "match_key", "amount_tolerance", "is_active",
    )
    list_filter = ("kind", "settlement_cycle", "is_active", "bank")
    list_select_related = ("bank",)
    search_fields = ("code", "name", "bank__name")
    autocomplete_fields = ("settlement_account",)
    fieldsets = (
        (None, {"fields": ("code", "name", "bank", "kind", "currency", "is_active")}),
        (_("Settlement"), {"fields": ("settlement_account", "settlement_cycle", "settlement_times", "cutoff_time",
                                      "statement_ready_time", "calendar")}),
        (_("Matching"), {"fields": ("match_key", "amount_tolerance", "fee_tolerance", "carry_over_days")}),
    )


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
        "channel", "business_type", "rate_percent", "fixed_amount", "min_fee", "max_fee", "rounding",
        "charging_mode", "valid_from", "valid_to",
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
        return percent(fee_model.rate)

    @admin.display(description=_("fee for sample amounts"))
    def examples(self, fee_model: FeeModel):
        if fee_model is None or fee_model.pk is None:
            return _("Saved fee models show worked examples here.")
        spec = FeeSpec.of(fee_model)
        rows = []
        for amount in FEE_EXAMPLE_AMOUNTS:
            quote = fee_compute(spec=spec, amount=amount)
            rows.append((format_money(amount, spec.currency), format_money(quote.fee, spec.currency),
                         format_money(quote.net_amount, spec.currency)))
        header = format_html_join("", "<th>{}</th>", [(_("amount"),), (_("fee"),), (_("net settlement"),)])
        body = format_html_join("", '<tr><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>', rows)
        return format_html_join("", "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", [(header, body)])
