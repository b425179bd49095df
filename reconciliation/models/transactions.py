"""Our own transaction records, pushed by the payment core (API) or imported from its journal."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Merchant
from backoffice.core import history
from backoffice.core.db import choices_check
from backoffice.core.money import currency_field, money_field
from reconciliation.models.channels import Channel
from reconciliation.models.choices import BusinessType


class TransactionStatus(models.TextChoices):
    PROCESSING = "PROCESSING", _("Processing")
    UNKNOWN = "UNKNOWN", _("Unknown (timed out)")
    SUCCESS = "SUCCESS", _("Success")
    FAILED = "FAILED", _("Failed")


# Allowed status moves. A timeout is UNKNOWN, never FAILED; only the terminal states are final.
STATUS_MOVES: dict[str, frozenset[str]] = {
    TransactionStatus.PROCESSING: frozenset({TransactionStatus.UNKNOWN, TransactionStatus.SUCCESS, TransactionStatus.FAILED}),
    TransactionStatus.UNKNOWN: frozenset({TransactionStatus.PROCESSING, TransactionStatus.SUCCESS, TransactionStatus.FAILED}),
    TransactionStatus.SUCCESS: frozenset(),
    TransactionStatus.FAILED: frozenset(),
}
# Moves against STATUS_MOVES that only an approved resolution makes (accepting the channel's version,
# 补单 of an order we recorded failed), each recorded as a STATUS_CORRECTED workflow event.
STATUS_CORRECTIONS: dict[str, frozenset[str]] = {
    TransactionStatus.SUCCESS: frozenset({TransactionStatus.FAILED}),
    TransactionStatus.FAILED: frozenset({TransactionStatus.SUCCESS}),
    TransactionStatus.PROCESSING: frozenset(),
    TransactionStatus.UNKNOWN: frozenset(),
}


class TransactionOrigin(models.TextChoices):
    PAYMENT_CORE = "PAYMENT_CORE", _("The payment core's record")
    SUPPLEMENT = "SUPPLEMENT", _("Created by a supplement (补单)")
    REFUND_ORDER = "REFUND_ORDER", _("A refund order the payment core executed")


class ReceiptSource(models.TextChoices):
    API = "API", _("API")
    FILE = "FILE", _("File import")


class TransactionReceipt(models.Model):
    """One delivery of our transaction records (an API call, a file, a command): who sent it, when, and what
    it did. Each record it created names it (``PlatformTransaction.receipt``); what later deliveries changed
    is in the record's own history. Append-only: never changed, never deleted.

    This is how the payment core's inserts are on the trail: one receipt per delivery rather than one
    history row per record, so a million-record day costs one row here, not a second million."""

    Source = ReceiptSource

    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    source_ref = models.CharField(_("source reference"), max_length=255, blank=True)
    received_at = models.DateTimeField(_("received at"), db_index=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("sent by")
    )
    created = models.PositiveIntegerField(_("records created"))
    updated = models.PositiveIntegerField(_("records moved on"))
    unchanged = models.PositiveIntegerField(_("records unchanged"))
    held = models.PositiveIntegerField(_("records held back"))

    class Meta:
        verbose_name = _("delivery of our transactions")
        verbose_name_plural = _("deliveries of our transactions")
        constraints = [choices_check("source", ReceiptSource, "txnreceipt_source_valid")]
        triggers = [pgtrigger.Protect(name="receipts_are_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_source_display()} {self.source_ref}".strip()


# Changes are tracked (a status moving on, a serial filled in); the insert is on its delivery's receipt.
# Our records' references: (column, the table it refers to). Checked by the database once per statement, not
# by foreign keys: a foreign key's check is a trigger per row and reference queued to the commit (five
# references × a million records: ~9 s of a day's delivery, and about 1 GB of the server's memory at five
# million), where one set query per reference takes ~0.2 s. The triggers (migration
# 0022_transaction_references) do what a foreign key does: a new or changed reference must exist, and is
# locked (FOR KEY SHARE) so it cannot be deleted before the writer commits; deleting a row that a record
# refers to is refused. ``on_delete=PROTECT`` still refuses it earlier in Django.
TXN_REFERENCES = (
    ("channel_id", "reconciliation_channel"),
    ("original_id", "reconciliation_platformtransaction"),
    ("merchant_id", "accounts_merchant"),
    ("account_id", "accounts_account"),
    ("source_line_id", "reconciliation_statementline"),
)


@pghistory.track(history.UpdateEvent())
class PlatformTransaction(models.Model):
    PERSONAL_FIELDS = {"counterparty_account": "account_number", "counterparty_name": "name"}
    Status = TransactionStatus
    Origin = TransactionOrigin

    # Unique by a constraint below (an index of its own, without the LIKE index Django adds for unique=True: a
    # million inserts a day pay for every index).
    txn_no = models.CharField(_("transaction number"), max_length=64)
    order_no = models.CharField(
        _("business order number"),
        max_length=64,
        blank=True,
        db_default="",  # bulk writers (COPY) that do not know the column leave it empty
        help_text=_("The order the transaction pays or refunds; a retry of a payment keeps its order number."),
    )
    origin = models.CharField(
        _("origin"),
        max_length=16,
        choices=TransactionOrigin.choices,
        default=TransactionOrigin.PAYMENT_CORE,
        db_default=TransactionOrigin.PAYMENT_CORE,
    )
    # For an order a supplement created: when the payment core's own record of it arrived and completed it.
    confirmed_at = models.DateTimeField(_("confirmed by the payment core at"), null=True, blank=True)
    # Indexed by platformtxn_channel_date (its first column).
    channel = models.ForeignKey(
        Channel,
        on_delete=models.PROTECT,
        related_name="transactions",
        verbose_name=_("channel"),
        db_index=False,
        db_constraint=False,  # checked per statement: TXN_REFERENCES
    )
    channel_txn_no = models.CharField(
        _("channel serial"), max_length=64, blank=True, help_text=_("The bank's or institution's serial; empty until known.")
    )
    business_type = models.CharField(_("business type"), max_length=16, choices=BusinessType.choices)
    original = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        db_index=False,  # partial index below: only refunds have one
        db_constraint=False,
        verbose_name=_("original transaction"),
        help_text=_("For a refund: the transaction refunded."),
    )
    batch_no = models.CharField(_("batch number"), max_length=64, blank=True)
    amount = money_field(_("amount"))
    currency = currency_field()
    fee = money_field(_("fee"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=TransactionStatus.choices)
    created_at = models.DateTimeField(_("created at"))
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    business_date = models.DateField(_("business date"))
    # Partial indexes below (most records name neither).
    merchant = models.ForeignKey(
        Merchant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transactions",
        verbose_name=_("merchant"),
        db_index=False,
        db_constraint=False,
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transactions",
        verbose_name=_("account"),
        db_index=False,
        db_constraint=False,
    )
    counterparty_account = models.CharField(_("counterparty account"), max_length=64, blank=True)
    # Set when the record was created or completed by a supplement (补单) from the channel's line.
    source_line = models.ForeignKey(
        "reconciliation.StatementLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # partial index below: only supplemented orders have one
        db_constraint=False,
        verbose_name=_("supplemented from the channel's line"),
    )
    counterparty_name = models.CharField(_("counterparty name"), max_length=200, blank=True)
    received_at = models.DateTimeField(_("received at"))
    # The delivery that created the record. No foreign-key check on a million inserts a day: receipts are
    # never deleted (a trigger), so the reference cannot dangle.
    receipt = models.ForeignKey(
        TransactionReceipt,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
        verbose_name=_("received with"),
    )
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("platform transaction")
        verbose_name_plural = _("platform transactions")
        constraints = [
            models.UniqueConstraint(fields=["txn_no"], name="platformtxn_unique_txn_no"),
            choices_check("business_type", BusinessType, "platformtxn_business_type_valid"),
            choices_check("status", TransactionStatus, "platformtxn_status_valid"),
            choices_check("origin", TransactionOrigin, "platformtxn_origin_valid"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="platformtxn_amount_positive"),
            models.UniqueConstraint(
                fields=["channel", "channel_txn_no"], condition=~Q(channel_txn_no=""), name="platformtxn_unique_channel_serial"
            ),
            models.CheckConstraint(
                condition=Q(original__isnull=True) | Q(business_type=BusinessType.REFUND),
                name="platformtxn_only_refunds_have_original",
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "business_date"], name="platformtxn_channel_date"),
            *(
                models.Index(fields=[name], name=f"platformtxn_{name}", condition=Q(**{f"{name}__isnull": False}))
                for name in ("merchant", "account", "original", "source_line")
            ),
            models.Index(fields=["batch_no"], name="platformtxn_batch", condition=~Q(batch_no="")),
            # Retries of one order (the double-payment check).
            models.Index(fields=["channel", "order_no"], name="platformtxn_order", condition=~Q(order_no="")),
            # Finding the retry of a failed payout (double-payment risk): same channel, payee and amount.
            models.Index(
                fields=["channel", "counterparty_account", "amount"],
                name="platformtxn_payee",
                condition=~Q(counterparty_account=""),
            ),
        ]

    def __str__(self) -> str:
        return self.txn_no


class ConflictSource(models.TextChoices):
    API = "API", _("API")
    FILE = "FILE", _("File import")


class TransactionConflict(models.Model):
    """A change to a transaction that was refused (status moving back, a different amount, …).

    Kept so the payment core's team and the clerks can see what was sent and why it was refused;
    written in its own transaction so the record survives the rollback of the refused batch.
    """

    Source = ConflictSource

    txn_no = models.CharField(_("transaction number"), max_length=64, db_index=True)
    field = models.CharField(_("field"), max_length=64)
    current_value = models.TextField(_("current value"), blank=True)
    incoming_value = models.TextField(_("incoming value"), blank=True)
    reason = models.TextField(_("reason"))
    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    source_ref = models.CharField(_("source reference"), max_length=255, blank=True, help_text=_("File name and line."))
    received_at = models.DateTimeField(_("received at"))
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("sent by")
    )

    class Meta:
        verbose_name = _("refused transaction change")
        verbose_name_plural = _("refused transaction changes")
        constraints = [choices_check("source", ConflictSource, "txnconflict_source_valid")]

    def __str__(self) -> str:
        return f"{self.txn_no}.{self.field}"
