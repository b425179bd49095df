from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin

from accounts.models import Account, Customer, CustomerUser, Merchant
from accounts.resources import AccountResource, CustomerResource, MerchantResource
from backoffice.core.admin import PersonalDataAdminMixin, ReadOnlyInline


class CustomerUserInline(PersonalDataAdminMixin, ReadOnlyInline):
    model = CustomerUser
    fields = ("phone", "email", "status", "created_at")
    readonly_fields = fields


class MerchantInline(PersonalDataAdminMixin, ReadOnlyInline):
    model = Merchant
    fk_name = "customer"
    fields = ("merchant_no", "name", "mcc", "status", "settlement_account")
    readonly_fields = fields


class AccountInline(PersonalDataAdminMixin, ReadOnlyInline):
    model = Account
    fields = ("account_no", "kind", "currency", "status", "opened_at")
    readonly_fields = fields


@admin.register(Customer)
class CustomerAdmin(PersonalDataAdminMixin, ImportExportModelAdmin):
    resource_classes = [CustomerResource]
    list_display = ("customer_no", "name", "kind", "id_number", "credit_code", "verification_status", "created_at")
    list_filter = ("kind", "verification_status", "id_type")
    search_fields = ("customer_no", "name", "credit_code", "id_number", "users__phone", "users__email", "merchants__merchant_no")
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("customer_no", "kind", "name")}),
        (_("Individual"), {"fields": ("id_type", "id_number")}),
        (_("Enterprise"), {"fields": ("credit_code", "legal_representative")}),
        (_("Real-name verification"), {"fields": ("verification_status", "verified_at")}),
        (_("Record"), {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = ("created_at", "updated_at")
    inlines = [CustomerUserInline, MerchantInline, AccountInline]


@admin.register(CustomerUser)
class CustomerUserAdmin(PersonalDataAdminMixin, admin.ModelAdmin):
    list_display = ("id", "customer", "phone", "email", "status", "created_at")
    list_filter = ("status",)
    list_select_related = ("customer",)
    search_fields = ("phone", "email", "customer__customer_no", "customer__name")
    fields = ("customer", "phone", "email", "status", "created_at")
    autocomplete_fields = ("customer",)


@admin.register(Merchant)
class MerchantAdmin(PersonalDataAdminMixin, ImportExportModelAdmin):
    resource_classes = [MerchantResource]
    list_display = ("merchant_no", "name", "customer", "mcc", "status", "created_at")
    list_filter = ("status", "customer__kind")
    list_select_related = ("customer",)
    search_fields = ("merchant_no", "name", "customer__customer_no", "customer__name")
    fields = ("merchant_no", "name", "customer", "mcc", "status", "settlement_account", "created_at")
    autocomplete_fields = ("customer", "settlement_account")


@admin.register(Account)
class AccountAdmin(PersonalDataAdminMixin, ImportExportModelAdmin):
    resource_classes = [AccountResource]
    list_display = ("account_no", "customer", "kind", "currency", "status", "opened_at")
    list_filter = ("kind", "currency", "status")
    list_select_related = ("customer",)
    search_fields = ("account_no", "customer__customer_no", "customer__name")
    fields = ("account_no", "customer", "kind", "currency", "status", "opened_at", "closed_at")
    autocomplete_fields = ("customer",)
