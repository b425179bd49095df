"""The clerk workflow on discrepancies: proposals, approvals, the trail of every step, and what an
executed proposal leaves behind (adjustments for the books, refund orders, claims)."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from backoffice.core import history
from backoffice.core.db import choices_check
from backoffice.core.money import currency_field, money_field
from reconciliation.models.runs import Discrepancy, DiscrepancyState
from reconciliation.models.transactions import PlatformTransaction


class Action(models.TextChoices):
    SUPPLEMENT = "SUPPLEMENT", _("Supplement (补单)")
    REFUND = "REFUND", _("Refund")
    ADJUSTMENT = "ADJUSTMENT", _("Adjustment (调账)")
    ACCEPT_BANK = "ACCEPT_BANK", _("Accept the channel's version")
    CLAIM = "CLAIM", _("Keep ours and claim from the bank")
    RECOVERY = "RECOVERY", _("Recover from the payee (追款)")
    WRITE_OFF = "WRITE_OFF", _("Write off")
    EXTEND_CARRY_OVER = "EXTEND_CARRY_OVER", _("Extend the carry-over")
    DISMISS = "DISMISS", _("Dismiss: not a double payment")
    MANUAL_MATCH = "MANUAL_MATCH", _("Pair manually (手工勾兑)")


class ResolutionStatus(models.TextChoices):
    PROPOSED = "PROPOSED", _("Waiting for approval")
    FIRST_APPROVED = "FIRST_APPROVED", _("Waiting for the second approval")
    EXECUTED = "EXECUTED", _("Approved and executed")
    REJECTED = "REJECTED", _("Rejected")
    WITHDRAWN = "WITHDRAWN", _("Withdrawn: the item matched")


OPEN_RESOLUTION_STATUSES = (ResolutionStatus.PROPOSED, ResolutionStatus.FIRST_APPROVED)
# The allowed moves of a proposal's status (services/workflow/states.py is the only writer).
RESOLUTION_MOVES: dict[str, frozenset[str]] = {
    ResolutionStatus.PROPOSED: frozenset(
        {ResolutionStatus.FIRST_APPROVED, ResolutionStatus.EXECUTED, ResolutionStatus.REJECTED, ResolutionStatus.WITHDRAWN}
    ),
    ResolutionStatus.FIRST_APPROVED: frozenset(
        {ResolutionStatus.EXECUTED, ResolutionStatus.REJECTED, ResolutionStatus.WITHDRAWN}
    ),
    ResolutionStatus.EXECUTED: frozenset(),
    ResolutionStatus.REJECTED: frozenset(),
    ResolutionStatus.WITHDRAWN: frozenset(),
}

# The workflow's permissions (Resolution.Meta.permissions), as user.has_perm() takes them.
PROPOSE_PERMISSION = "reconciliation.propose_resolution"
APPROVE_PERMISSION = "reconciliation.approve_resolution"
SECOND_APPROVAL_PERMISSION = "reconciliation.approve_above_threshold"
WORK_PERMISSION = "reconciliation.work_discrepancy"


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent())
class Resolution(models.Model):
    """A clerk's proposal to resolve one discrepancy; executed once it has its approvals."""

    Action = Action
    Status = ResolutionStatus

    discrepancy = models.ForeignKey(
        Discrepancy, on_delete=models.PROTECT, related_name="resolutions", verbose_name=_("discrepancy")
    )
    action = models.CharField(_("action"), max_length=24, choices=Action.choices)
    status = models.CharField(_("status"), max_length=16, choices=ResolutionStatus.choices, default=ResolutionStatus.PROPOSED)
    reason = models.TextField(_("reason"))
    # Action-specific details, validated by the workflow service (e.g. an adjustment's accounts).
    params = models.JSONField(_("details"), default=dict, blank=True)
    amount = money_field(_("amount at stake"))
    currency = currency_field()
    needs_second_approval = models.BooleanField(_("needs a second approval"), default=False)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("proposed by")
    )
    proposed_at = models.DateTimeField(_("proposed at"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    executed_at = models.DateTimeField(_("executed at"), null=True, blank=True)
    outcome = models.JSONField(_("outcome"), default=dict, blank=True, help_text=_("What the execution did."))

    class Meta:
        verbose_name = _("resolution")
        verbose_name_plural = _("resolutions")
        permissions = [
            ("propose_resolution", _("Can propose resolutions")),
            ("approve_resolution", _("Can approve resolutions")),
            ("approve_above_threshold", _("Can give the second approval above a channel's threshold")),
            ("work_discrepancy", _("Can take on discrepancies and write notes on them")),
        ]
        constraints = [
            choices_check("action", Action, "resolution_action_valid"),
            choices_check("status", ResolutionStatus, "resolution_status_valid"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="resolution_amount_gte_0"),
            models.CheckConstraint(condition=~Q(reason=""), name="resolution_has_reason"),
            # A discrepancy has at most one proposal under way.
            models.UniqueConstraint(
                fields=["discrepancy"],
                condition=Q(status__in=OPEN_RESOLUTION_STATUSES),
                name="resolution_one_open_per_item",
                violation_error_message=_("This discrepancy already has a proposal waiting for approval."),
            ),
            models.CheckConstraint(
                condition=Q(executed_at__isnull=True) | Q(status=ResolutionStatus.EXECUTED),
                name="resolution_executed_at_only_when_executed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} #{self.pk}"


class ResolutionItem(models.Model):
    """A discrepancy a manual pairing (手工勾兑) takes in, besides the one it is proposed on: items of our side
    and of the channel's that are one payment under different numbers. They wait in PROPOSED with it and
    close with it; a run that matches one of them withdraws the whole pairing."""

    resolution = models.ForeignKey(Resolution, on_delete=models.PROTECT, related_name="items", verbose_name=_("resolution"))
    discrepancy = models.ForeignKey(Discrepancy, on_delete=models.PROTECT, related_name="pairings", verbose_name=_("discrepancy"))

    class Meta:
        verbose_name = _("item of a manual pairing")
        verbose_name_plural = _("items of manual pairings")
        constraints = [models.UniqueConstraint(fields=["resolution", "discrepancy"], name="resolutionitem_once")]

    def __str__(self) -> str:
        return f"#{self.resolution_id}: #{self.discrepancy_id}"


class Decision(models.TextChoices):
    APPROVE = "APPROVE", _("Approve")
    REJECT = "REJECT", _("Reject")


class ApprovalLevel(models.TextChoices):
    CHECKER = "CHECKER", _("Checker")
    SECOND = "SECOND", _("Second approval")


class Approval(models.Model):
    """One approver's decision on a proposal. Never changed once given."""

    Decision = Decision
    Level = ApprovalLevel

    resolution = models.ForeignKey(Resolution, on_delete=models.PROTECT, related_name="approvals", verbose_name=_("resolution"))
    level = models.CharField(_("level"), max_length=8, choices=ApprovalLevel.choices)
    decision = models.CharField(_("decision"), max_length=8, choices=Decision.choices)
    comment = models.TextField(_("comment"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("decided by")
    )
    decided_at = models.DateTimeField(_("decided at"))

    class Meta:
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")
        constraints = [
            choices_check("level", ApprovalLevel, "approval_level_valid"),
            choices_check("decision", Decision, "approval_decision_valid"),
            models.UniqueConstraint(fields=["resolution", "level"], name="approval_one_per_level"),
        ]
        triggers = [pgtrigger.Protect(name="approvals_are_final", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} ({self.get_level_display()})"


class EventKind(models.TextChoices):
    FOUND = "FOUND", _("Found by a run")
    ASSIGNED = "ASSIGNED", _("Assigned")
    NOTE = "NOTE", _("Note")
    PROPOSED = "PROPOSED", _("Proposed")
    APPROVED = "APPROVED", _("Approved")
    SECOND_APPROVAL_NEEDED = "SECOND_APPROVAL_NEEDED", _("First approval; a second is needed")
    REJECTED = "REJECTED", _("Rejected")
    EXECUTED = "EXECUTED", _("Executed")
    CLAIM_RECOVERED = "CLAIM_RECOVERED", _("Claim recovered")
    RECOVERY_REPORTED = "RECOVERY_REPORTED", _("Recovery reported")
    RECOVERY_REJECTED = "RECOVERY_REJECTED", _("Recovery report rejected")
    REFUND_REPORTED = "REFUND_REPORTED", _("Refund outcome reported")
    # Written by runs.
    MATCHED = "MATCHED", _("Matched by a run")
    RECLASSIFIED = "RECLASSIFIED", _("Found different by a run")
    OPENED = "OPENED", _("Opened: the carry-over window ended")
    WITHDRAWN = "WITHDRAWN", _("Proposal withdrawn: the item matched")
    # Our record corrected against its usual status moves, by an approved resolution.
    STATUS_CORRECTED = "STATUS_CORRECTED", _("Our status corrected to the channel's")
    # The channel's corrected statement replaced the file of the item's line.
    LINE_REPLACED = "LINE_REPLACED", _("The channel's corrected file replaced its line")


class WorkflowEvent(models.Model):
    """The append-only history of a discrepancy: who did what, when, from where, why, before and after.

    Insert-only, enforced by a database trigger: nobody can change or delete a step once recorded.
    """

    Kind = EventKind

    discrepancy = models.ForeignKey(
        Discrepancy, on_delete=models.PROTECT, related_name="workflow_events", verbose_name=_("discrepancy")
    )
    resolution = models.ForeignKey(
        Resolution, on_delete=models.PROTECT, null=True, blank=True, related_name="workflow_events", verbose_name=_("resolution")
    )
    kind = models.CharField(_("step"), max_length=24, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("by")
    )
    at = models.DateTimeField(_("at"))
    source = models.CharField(_("from"), max_length=100, blank=True, help_text=_("IP address, API, or a worker."))
    reason = models.TextField(_("reason or comment"), blank=True)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)

    class Meta:
        verbose_name = _("workflow event")
        verbose_name_plural = _("workflow events")
        constraints = [choices_check("kind", EventKind, "workflowevent_kind_valid")]
        indexes = [models.Index(fields=["discrepancy", "at"], name="workflowevent_item_at")]
        triggers = [pgtrigger.Protect(name="events_are_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.discrepancy_id}"

    @property
    def state_change(self) -> tuple[str, str] | None:
        """The discrepancy's state before and after this step, as labels; None when it did not move."""
        before, after = self.before.get("state"), self.after.get("state")
        if not after or before == after:
            return None
        labels = dict(DiscrepancyState.choices)
        return (str(labels.get(before, before or "—")), str(labels.get(after, after)))


class AdjustmentStatus(models.TextChoices):
    PENDING_POSTING = "PENDING_POSTING", _("Waiting to be posted")
    POSTED = "POSTED", _("Posted")


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent())
class Adjustment(models.Model):
    """调账: a structured correcting entry the books will post (debit one account, credit another).

    Created by an executed adjustment or write-off together with the voucher that posts it (POSTED);
    PENDING_POSTING remains only on rows written before the books existed.
    """

    Status = AdjustmentStatus

    resolution = models.OneToOneField(
        Resolution, on_delete=models.PROTECT, related_name="adjustment", verbose_name=_("resolution")
    )
    debit_account = models.CharField(_("debit account"), max_length=80)
    credit_account = models.CharField(_("credit account"), max_length=80)
    amount = money_field(_("amount"))
    currency = currency_field()
    memo = models.CharField(_("memo"), max_length=200)
    status = models.CharField(
        _("status"), max_length=16, choices=AdjustmentStatus.choices, default=AdjustmentStatus.PENDING_POSTING
    )
    created_at = models.DateTimeField(_("created at"))
    voucher = models.OneToOneField(
        "accounts.Voucher", on_delete=models.PROTECT, null=True, blank=True, related_name="adjustment", verbose_name=_("voucher")
    )

    class Meta:
        verbose_name = _("adjustment")
        verbose_name_plural = _("adjustments")
        constraints = [
            choices_check("status", AdjustmentStatus, "adjustment_status_valid"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="adjustment_amount_positive"),
            models.CheckConstraint(condition=~Q(debit_account=models.F("credit_account")), name="adjustment_two_accounts"),
        ]

    def __str__(self) -> str:
        return f"{self.debit_account} / {self.credit_account} {self.amount} {self.currency}"


class RefundOrderStatus(models.TextChoices):
    PENDING = "PENDING", _("Waiting for the payment core")
    SUCCEEDED = "SUCCEEDED", _("Refunded")
    FAILED = "FAILED", _("Refund failed")


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent())
class RefundOrder(models.Model):
    """A refund the payment core must execute; it reports the outcome through the API."""

    Status = RefundOrderStatus

    resolution = models.OneToOneField(
        Resolution, on_delete=models.PROTECT, related_name="refund_order", verbose_name=_("resolution")
    )
    refund_no = models.CharField(_("refund number"), max_length=64, unique=True)
    original_txn = models.ForeignKey(
        PlatformTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refund_orders",
        verbose_name=_("original transaction"),
    )
    original_channel_txn_no = models.CharField(_("original channel serial"), max_length=64, blank=True)
    amount = money_field(_("amount"))
    currency = currency_field()
    status = models.CharField(_("status"), max_length=16, choices=RefundOrderStatus.choices, default=RefundOrderStatus.PENDING)
    created_at = models.DateTimeField(_("created at"))
    reported_at = models.DateTimeField(_("outcome reported at"), null=True, blank=True)
    refund_txn = models.OneToOneField(
        PlatformTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refund_order_of",
        verbose_name=_("refund transaction"),
    )

    class Meta:
        verbose_name = _("refund order")
        verbose_name_plural = _("refund orders")
        constraints = [
            choices_check("status", RefundOrderStatus, "refundorder_status_valid"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refundorder_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.refund_no


class ClaimKind(models.TextChoices):
    BANK = "BANK", _("Claim from the bank")
    PAYEE = "PAYEE", _("Recovery from the payee (追款)")


class ClaimStatus(models.TextChoices):
    OPEN = "OPEN", _("Open")
    # A clerk says the money came back (with its reference); a checker who is not the clerk confirms it.
    REPORTED = "REPORTED", _("Recovery reported, waiting for a checker")
    RECOVERED = "RECOVERED", _("Recovered")


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent())
class Claim(models.Model):
    """Money to get back, tracked until recovered: from the bank (we keep our version) or from a payee
    paid twice."""

    Kind = ClaimKind
    Status = ClaimStatus

    resolution = models.OneToOneField(Resolution, on_delete=models.PROTECT, related_name="claim", verbose_name=_("resolution"))
    kind = models.CharField(_("kind"), max_length=8, choices=ClaimKind.choices)
    counterparty = models.CharField(_("from whom"), max_length=200)
    amount = money_field(_("amount"))
    currency = currency_field()
    status = models.CharField(_("status"), max_length=16, choices=ClaimStatus.choices, default=ClaimStatus.OPEN)
    opened_at = models.DateTimeField(_("opened at"))
    recovered_at = models.DateTimeField(_("recovered at"), null=True, blank=True)
    reference = models.CharField(_("recovery reference"), max_length=100, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("recovery reported by"),
    )  # fmt: skip
    reported_at = models.DateTimeField(_("recovery reported at"), null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("recovery confirmed by"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        constraints = [
            choices_check("kind", ClaimKind, "claim_kind_valid"),
            choices_check("status", ClaimStatus, "claim_status_valid"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="claim_amount_positive"),
            # Recording money recovered is maker-checker like any resolution: two people.
            models.CheckConstraint(
                condition=Q(confirmed_by__isnull=True) | ~Q(confirmed_by=models.F("reported_by")),
                name="claim_recovery_two_people",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency}"


class SavedFilter(models.Model):
    """A clerk's named queue filter (the query string of the discrepancy list)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters", verbose_name=_("owner")
    )
    name = models.CharField(_("name"), max_length=80)
    query = models.CharField(_("filter"), max_length=1000)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("saved filter")
        verbose_name_plural = _("saved filters")
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="savedfilter_unique_name")]

    def __str__(self) -> str:
        return self.name
