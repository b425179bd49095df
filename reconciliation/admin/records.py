"""Records written by services only (statement files, our transactions, refused changes): the admin
shows them and never edits them."""

from django.contrib import admin

from backoffice.core.admin import PersonalDataAdminMixin, ReadOnlyAdmin
from reconciliation.models import PlatformTransaction, StatementFile, TransactionConflict, TransactionReceipt


@admin.register(StatementFile)
class StatementFileAdmin(ReadOnlyAdmin):
    list_display = ("id", "channel", "kind", "statement_date", "format_code", "status", "line_count", "source", "received_at")
    list_filter = ("status", "kind", "format_code", "source", "channel")
    list_select_related = ("channel",)
    search_fields = ("original_name", "sha256")
    date_hierarchy = "statement_date"
    exclude = ("raw_file",)


@admin.register(PlatformTransaction)
class PlatformTransactionAdmin(PersonalDataAdminMixin, ReadOnlyAdmin):
    list_display = ("txn_no", "channel", "business_type", "amount", "currency", "status", "business_date", "channel_txn_no")
    list_filter = ("status", "business_type", "channel", "business_date")
    list_select_related = ("channel",)
    search_fields = ("txn_no", "channel_txn_no", "batch_no")
    date_hierarchy = "business_date"
    fields = (
        "txn_no",
        "channel",
        "channel_txn_no",
        "business_type",
        "original",
        "batch_no",
        "amount",
        "currency",
        "fee",
        "status",
        "created_at",
        "completed_at",
        "business_date",
        "merchant",
        "account",
        "counterparty_account",
        "counterparty_name",
        "received_at",
        "receipt",
        "updated_at",
    )


@admin.register(TransactionConflict)
class TransactionConflictAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "txn_no", "field", "current_value", "incoming_value", "reason", "source", "received_by")
    list_filter = ("source", "field")
    search_fields = ("txn_no",)


@admin.register(TransactionReceipt)
class TransactionReceiptAdmin(ReadOnlyAdmin):
    """Every delivery of our transactions: who sent it, when, and what it did."""

    list_display = ("id", "received_at", "source", "source_ref", "received_by", "created", "updated", "unchanged", "held")
    list_filter = ("source",)
    list_select_related = ("received_by",)
    search_fields = ("source_ref", "received_by__username")
    date_hierarchy = "received_at"
