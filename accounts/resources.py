"""Import/export of customers, merchants and accounts (django-import-export).

Imports validate every row with the models' own rules (full_clean) and show per-row, per-field
errors before anything is saved; exports mask personal data for staff without the permission.
"""

from __future__ import annotations

from import_export import fields

from accounts.models import Account, Customer, Merchant
from backoffice.core.masking import personal_value
from backoffice.core.spreadsheets import LookupWidget, SafeExportResource


class CustomerResource(SafeExportResource):
    class Meta:
        model = Customer
        import_id_fields = ("customer_no",)
        fields = (
            "customer_no",
            "kind",
            "name",
            "id_type",
            "id_number",
            "credit_code",
            "legal_representative",
            "verification_status",
        )
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


class AccountResource(SafeExportResource):
    customer = fields.Field(attribute="customer", column_name="customer_no", widget=LookupWidget(Customer, "customer_no"))

    class Meta:
        model = Account
        import_id_fields = ("account_no",)
        fields = ("account_no", "customer", "kind", "currency", "status")
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self):
        return Account.objects.select_related("customer").order_by("id")


class MerchantResource(SafeExportResource):
    customer = fields.Field(attribute="customer", column_name="customer_no", widget=LookupWidget(Customer, "customer_no"))
    settlement_account = fields.Field(
        attribute="settlement_account",
        column_name="settlement_account_no",
        widget=LookupWidget(Account, "account_no"),
    )

    class Meta:
        model = Merchant
        import_id_fields = ("merchant_no",)
        fields = ("merchant_no", "customer", "name", "mcc", "status", "settlement_account")
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self):
        return Merchant.objects.select_related("customer", "settlement_account").order_by("id")

    def dehydrate_settlement_account(self, merchant: Merchant) -> str:
        account = merchant.settlement_account
        return personal_value(self.user, account, "account_no") if account else ""
