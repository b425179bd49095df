"""The books: the chart of accounts (科目), vouchers (凭证) and their entries (分录).

The database keeps the books, not only Python:
- every voucher's entries balance per currency, checked when the transaction commits (a deferred
  constraint trigger), so a voucher is written whole or not at all;
- an entry's currency is its ledger account's;
- entries are written once: never updated, never deleted; a voucher is never deleted and, once posted
  or rejected, never changed: a posted voucher is corrected by a reversal (冲正), a voucher of its own;
- a voucher's status moves only as VOUCHER_MOVES allows (PROPOSED → POSTED or REJECTED); postings the
  business makes are written POSTED directly, a clerk's offline item (线下补录) waits as PROPOSED for a
  checker.
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models.parties import Account
from backoffice.core import history
from backoffice.core.db import choices_check
from backoffice.core.money import currency_field, money_field


class LedgerAccountType(models.TextChoices):
    ASSET = "ASSET", _("Asset")
    LIABILITY = "LIABILITY", _("Liability")
    EQUITY = "EQUITY", _("Equity")
    INCOME = "INCOME", _("Income")
    EXPENSE = "EXPENSE", _("Expense")


# Assets and expenses grow on the debit side; liabilities, equity and income on the credit side.
DEBIT_NORMAL = {LedgerAccountType.ASSET, LedgerAccountType.EXPENSE}


class LedgerRole(models.TextChoices):
    """What the business posts to an account; the services find accounts by role, never by name."""

    BANK_DEPOSIT = "BANK_DEPOSIT", _("Deposit at a bank account of ours (备付金 / 一般户)")
    CHANNEL_CLEARING = "CHANNEL_CLEARING", _("Clearing with a channel (应收应付渠道款)")
    CUSTOMER_PAYABLE = "CUSTOMER_PAYABLE", _("Customer balances payable")
    MERCHANT_PAYABLE = "MERCHANT_PAYABLE", _("Merchant settlement payable")
    CHANNEL_FEE_PAYABLE = "CHANNEL_FEE_PAYABLE", _("Channel fees payable (外扣)")
    FEE_EXPENSE = "FEE_EXPENSE", _("Channel fee expense")
    FEE_INCOME = "FEE_INCOME", _("Fee income")
    SUSPENSE = "SUSPENSE", _("Suspense (待处理)")
    WRITE_OFF_EXPENSE = "WRITE_OFF_EXPENSE", _("Write-off expense")
    WRITE_OFF_INCOME = "WRITE_OFF_INCOME", _("Write-off income")
    EQUITY = "EQUITY", _("Paid-in capital")
    OTHER = "OTHER", _("Other")


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent())
class LedgerAccount(models.Model):
    """科目: one account of the chart, in one currency. A code may exist once per currency."""

    Type = LedgerAccountType
    Role = LedgerRole

    code = models.CharField(_("code"), max_length=80)
    name = models.CharField(_("name"), max_length=200)
    type = models.CharField(_("type"), max_length=16, choices=LedgerAccountType.choices)
    role = models.CharField(_("role"), max_length=24, choices=LedgerRole.choices, default=LedgerRole.OTHER)
    currency = currency_field()
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        ordering = ["code", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["code", "currency"], name="ledgeraccount_code_once_per_currency"),
            choices_check("type", LedgerAccountType, "ledgeraccount_type_valid"),
            choices_check("role", LedgerRole, "ledgeraccount_role_valid"),
        ]
        triggers = [pgtrigger.Protect(name="ledgeraccount_no_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.code} {self.name} ({self.currency})"

    @property
    def is_debit_normal(self) -> bool:
        return self.type in DEBIT_NORMAL


class VoucherStatus(models.TextChoices):
    PROPOSED = "PROPOSED", _("Waiting for approval")
    POSTED = "POSTED", _("Posted")
    REJECTED = "REJECTED", _("Rejected")


# The only moves a voucher's status makes; posted and rejected vouchers are final.
VOUCHER_MOVES: dict[str, set[str]] = {
    VoucherStatus.PROPOSED: {VoucherStatus.POSTED, VoucherStatus.REJECTED},
    VoucherStatus.POSTED: set(),
    VoucherStatus.REJECTED: set(),
}


class VoucherKind(models.TextChoices):
    COLLECTION = "COLLECTION", _("Collections")
    REFUND = "REFUND", _("Refunds")
    PAYOUT = "PAYOUT", _("Payouts")
    BATCH_RETURN = "BATCH_RETURN", _("Batch return")
    SETTLEMENT = "SETTLEMENT", _("Settlement")
    FEE_CHARGE = "FEE_CHARGE", _("Fee charge")
    SUPPLEMENT = "SUPPLEMENT", _("Supplement (补单)")
    ADJUSTMENT = "ADJUSTMENT", _("Adjustment (调账)")
    WRITE_OFF = "WRITE_OFF", _("Write-off")
    OFFLINE = "OFFLINE", _("Offline item (线下补录)")
    REVERSAL = "REVERSAL", _("Reversal (冲正)")
    OPENING = "OPENING", _("Opening balances (期初)")


_VOUCHER_FINAL = """
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'voucher % cannot be deleted: reverse it', OLD.number USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.status <> 'PROPOSED' THEN
        RAISE EXCEPTION 'voucher % is % and cannot change: reverse it', OLD.number, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (NEW.number, NEW.kind, NEW.business_date, NEW.memo, NEW.source_key, NEW.scope, NEW.reversal_of_id,
        NEW.proposed_by_id, NEW.created_at) IS DISTINCT FROM (OLD.number, OLD.kind, OLD.business_date, OLD.memo,
        OLD.source_key, OLD.scope, OLD.reversal_of_id, OLD.proposed_by_id, OLD.created_at) THEN
        RAISE EXCEPTION 'voucher %: only its decision may change', OLD.number USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
"""


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent())
class Voucher(models.Model):
    """凭证: a set of entries that balance per currency, dated by the business date it books."""

    Status = VoucherStatus
    Kind = VoucherKind

    number = models.CharField(_("number"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=VoucherKind.choices)
    business_date = models.DateField(_("business date"), db_index=True)
    memo = models.CharField(_("memo"), max_length=300)
    status = models.CharField(_("status"), max_length=12, choices=VoucherStatus.choices)
    # What the voucher books, once: e.g. "supplement:R123", "txn:WECHAT:2026-11-30:COLLECTION:4711". A second
    # posting of the same business event finds the first instead of booking it twice.
    source_key = models.CharField(_("source"), max_length=120, unique=True, null=True, blank=True)
    # What a series of vouchers books together, e.g. "txn:WECHAT:2026-11-30:COLLECTION": a day's postings are
    # the sum of its vouchers, and what changes later is posted as the difference.
    scope = models.CharField(_("scope"), max_length=120, blank=True, db_index=True)
    reversal_of = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by", verbose_name=_("reverses")
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("entered by")
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("approved by")
    )
    decision_comment = models.CharField(_("comment"), max_length=300, blank=True)
    # Set by the database to the writing transaction's start: the entries' trigger knows them apart by it.
    created_at = models.DateTimeField(
        _("created at"),
        db_default=models.Func(function="TRANSACTION_TIMESTAMP", output_field=models.DateTimeField()),
        editable=False,
    )
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        ordering = ["-business_date", "-id"]
        permissions = [("approve_voucher", "Can approve an offline voucher")]
        constraints = [
            choices_check("status", VoucherStatus, "voucher_status_valid"),
            choices_check("kind", VoucherKind, "voucher_kind_valid"),
            models.CheckConstraint(
                condition=Q(status="POSTED", posted_at__isnull=False) | (~Q(status="POSTED") & Q(posted_at__isnull=True)),
                name="voucher_posted_at_when_posted",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("proposed_by")),
                name="voucher_checker_is_not_the_maker",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="voucher_decided_once",
                operation=pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
                func=_VOUCHER_FINAL,
            ),
            pgtrigger.Trigger(
                name="voucher_has_entries",
                operation=pgtrigger.Insert,
                when=pgtrigger.After,
                timing=pgtrigger.Deferred,
                func="""
                    IF NOT EXISTS (SELECT 1 FROM accounts_entry WHERE voucher_id = NEW.id) THEN
                        RAISE EXCEPTION 'voucher % has no entries', NEW.id USING ERRCODE = 'check_violation';
                    END IF;
                    RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        return self.number


_ENTRY_BALANCED = """
    SELECT currency, SUM(debit) - SUM(credit) AS gap INTO off
    FROM accounts_entry WHERE voucher_id = NEW.voucher_id
    GROUP BY currency HAVING SUM(debit) <> SUM(credit) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'voucher % does not balance in %: debits exceed credits by %', NEW.voucher_id, off.currency, off.gap
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
"""

_ENTRY_CURRENCY = """
    -- Entries are written with their voucher, in the transaction that creates it: never added later.
    IF NOT EXISTS (SELECT 1 FROM accounts_voucher WHERE id = NEW.voucher_id AND created_at = transaction_timestamp()) THEN
        RAISE EXCEPTION 'voucher % is already written: its entries cannot change', NEW.voucher_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM accounts_ledgeraccount WHERE id = NEW.ledger_account_id AND currency = NEW.currency) THEN
        RAISE EXCEPTION 'entry in % on ledger account % of another currency', NEW.currency, NEW.ledger_account_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
"""


class Entry(models.Model):
    """分录: one line of a voucher, a debit or a credit on one ledger account; optionally for one customer
    or merchant account (the sub-ledger their balances come from)."""

    voucher = models.ForeignKey(Voucher, on_delete=models.PROTECT, related_name="entries", verbose_name=_("voucher"))
    ledger_account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="entries", verbose_name=_("ledger account")
    )
    party_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="entries", verbose_name=_("customer account")
    )
    debit = money_field(_("debit"), default=0)
    credit = money_field(_("credit"), default=0)
    currency = currency_field()
    memo = models.CharField(_("memo"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        ordering = ["voucher_id", "id"]
        indexes = [models.Index(fields=["ledger_account", "voucher"], name="entry_by_account")]
        constraints = [
            models.CheckConstraint(
                condition=Q(debit__gte=0, credit__gte=0) & (Q(debit=0, credit__gt=0) | Q(credit=0, debit__gt=0)),
                name="entry_one_side_positive",
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="entries_are_written_once", operation=pgtrigger.Update | pgtrigger.Delete),
            pgtrigger.Trigger(
                name="entry_currency_is_the_accounts",
                operation=pgtrigger.Insert,
                when=pgtrigger.Before,
                func=_ENTRY_CURRENCY,
            ),
            pgtrigger.Trigger(
                name="voucher_balances_per_currency",
                operation=pgtrigger.Insert,
                when=pgtrigger.After,
                timing=pgtrigger.Deferred,
                declare=[("off", "RECORD")],
                func=_ENTRY_BALANCED,
            ),
        ]

    def __str__(self) -> str:
        side = f"Dr {self.debit}" if self.debit else f"Cr {self.credit}"
        return f"{self.ledger_account.code} {side} {self.currency}"
