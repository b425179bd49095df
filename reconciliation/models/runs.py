"""Reconciliation runs and the discrepancies they find."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from backoffice.core import history
from backoffice.core.db import choices_check
from backoffice.core.money import currency_field, money_field
from reconciliation.models.channels import Channel
from reconciliation.models.statements import FundMovement, LineStatus, StatementLine
from reconciliation.models.transactions import PlatformTransaction, TransactionStatus


class RunStage(models.TextChoices):
    # Stage 1 (流水对账): our transactions against the channel's business-detail lines.
    TRANSACTION = "TRANSACTION", _("Transaction reconciliation")
    # Stage 2 (资金对账): the settlements clearing expects against the movements on our bank accounts.
    FUND = "FUND", _("Fund reconciliation")
    # 账实核对: the bank journal of the channel's settlement account against the bank's statement.
    BOOKS = "BOOKS", _("Book-to-bank check")


class RunStatus(models.TextChoices):
    PENDING = "PENDING", _("Waiting for a worker")
    RUNNING = "RUNNING", _("Running")
    SUCCEEDED = "SUCCEEDED", _("Done")
    FAILED = "FAILED", _("Failed")


ACTIVE_RUN_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING)


class RunTrigger(models.TextChoices):
    SCHEDULE = "SCHEDULE", _("Schedule")
    CLERK = "CLERK", _("Clerk")
    API = "API", _("API")
    FILE = "FILE", _("File parsed")
    RECORDS = "RECORDS", _("Late records of ours")
    COMMAND = "COMMAND", _("Command line")
    RECOVERY = "RECOVERY", _("Retry after a stopped worker")


class ReconciliationRun(models.Model):
    Stage = RunStage
    Status = RunStatus
    Trigger = RunTrigger

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="runs", verbose_name=_("channel"))
    business_date = models.DateField(_("business date"))
    stage = models.CharField(_("stage"), max_length=16, choices=RunStage.choices, default=RunStage.TRANSACTION)
    status = models.CharField(_("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    trigger = models.CharField(_("started by"), max_length=16, choices=RunTrigger.choices)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("staff user")
    )
    # {"MATCHED": {"count": n, "amount": "…"}, "BANK_ONLY": {...}, …}: every outcome of the run, amounts as
    # decimal strings; plus "overage"/"shortage" totals of the money effect.
    counts = models.JSONField(_("outcomes"), default=dict, blank=True)
    phase = models.CharField(_("phase"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("requested at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    # The lease of the worker executing the run: renewed while it works (database clock). A RUNNING run
    # whose heartbeat stopped, and whose lock nobody holds, was left by a worker that died.
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    # How many times a worker took the run up; a run that keeps stopping its worker is given up.
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        constraints = [
            choices_check("stage", RunStage, "run_stage_valid"),
            choices_check("status", RunStatus, "run_status_valid"),
            choices_check("trigger", RunTrigger, "run_trigger_valid"),
            # At most one run per channel, date and stage waiting or running: the database decides who wins.
            models.UniqueConstraint(
                fields=["channel", "business_date", "stage"],
                condition=Q(status__in=ACTIVE_RUN_STATUSES),
                name="run_one_active_per_channel_date_stage",
            ),
        ]
        indexes = [models.Index(fields=["channel", "business_date", "stage"], name="run_channel_date_stage")]

    def __str__(self) -> str:
        return f"{self.channel.code} {self.business_date} #{self.pk}"

    @property
    def is_fund(self) -> bool:
        return self.stage == RunStage.FUND

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES


class MatchOutcome(models.TextChoices):
    """What a run concluded for an item besides a discrepancy (whose outcome is its DiscrepancyType)."""

    MATCHED = "MATCHED", _("Matched")
    MATCHED_CROSS_DAY = "MATCHED_CROSS_DAY", _("Matched across days")
    AGREED_FAILED = "AGREED_FAILED", _("Failed on both sides")


# Outcomes that leave nothing to do.
MATCHED_OUTCOMES = tuple(MatchOutcome)


class DiscrepancyType(models.TextChoices):
    BANK_ONLY = "BANK_ONLY", _("Bank only")
    PLATFORM_ONLY = "PLATFORM_ONLY", _("Platform only")
    STATUS_MISMATCH = "STATUS_MISMATCH", _("Status mismatch")
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH", _("Amount mismatch")
    FEE_MISMATCH = "FEE_MISMATCH", _("Fee mismatch")
    DUPLICATE = "DUPLICATE", _("Duplicate")
    DOUBLE_PAYMENT_RISK = "DOUBLE_PAYMENT_RISK", _("Double-payment risk")
    # Both sides still processing: nothing to compare yet; waits like an item alone on one side.
    BOTH_PENDING = "BOTH_PENDING", _("Pending on both sides")
    # Stage 2 (fund reconciliation).
    SETTLEMENT_MISSING = "SETTLEMENT_MISSING", _("Settlement missing")
    SETTLEMENT_AMOUNT_MISMATCH = "SETTLEMENT_AMOUNT_MISMATCH", _("Settlement amount differs")
    UNEXPECTED_MOVEMENT = "UNEXPECTED_MOVEMENT", _("Unexpected movement")
    RETURN_UNMATCHED = "RETURN_UNMATCHED", _("Return for a payout we hold as paid")
    FEE_CHARGE_MISMATCH = "FEE_CHARGE_MISMATCH", _("Fee charge differs")
    # Book-to-bank check (账实核对).
    JOURNAL_MISSING = "JOURNAL_MISSING", _("Missing from our bank journal (日记账少账)")
    JOURNAL_EXTRA = "JOURNAL_EXTRA", _("In our bank journal, not at the bank (日记账多账)")


# The types stage 2 and the book-to-bank check find, one live per match key; stage 1 never concludes about
# them, nor they about the others.
FUND_TYPES = (
    DiscrepancyType.SETTLEMENT_MISSING,
    DiscrepancyType.SETTLEMENT_AMOUNT_MISMATCH,
    DiscrepancyType.UNEXPECTED_MOVEMENT,
    DiscrepancyType.RETURN_UNMATCHED,
    DiscrepancyType.FEE_CHARGE_MISMATCH,
    DiscrepancyType.JOURNAL_MISSING,
    DiscrepancyType.JOURNAL_EXTRA,
)


class DiscrepancyState(models.TextChoices):
    CARRIED_OVER = "CARRIED_OVER", _("Carried over")
    OPEN = "OPEN", pgettext_lazy("discrepancy state", "Open")
    PROPOSED = "PROPOSED", _("Proposed")
    APPROVED = "APPROVED", _("Approved")
    RESOLVED = "RESOLVED", _("Resolved")


# The allowed moves of a discrepancy's state. Nothing assigns a state directly: people's actions go
# through services/workflow/states.py (compare-and-set plus a WorkflowEvent), runs through the engine's
# guarded set updates; tests hold both to this table.
DISCREPANCY_MOVES: dict[str, frozenset[str]] = {
    DiscrepancyState.CARRIED_OVER: frozenset({DiscrepancyState.OPEN, DiscrepancyState.PROPOSED, DiscrepancyState.RESOLVED}),
    DiscrepancyState.OPEN: frozenset({DiscrepancyState.PROPOSED, DiscrepancyState.RESOLVED}),
    DiscrepancyState.PROPOSED: frozenset(
        {DiscrepancyState.OPEN, DiscrepancyState.CARRIED_OVER, DiscrepancyState.APPROVED, DiscrepancyState.RESOLVED}
    ),
    DiscrepancyState.APPROVED: frozenset({DiscrepancyState.OPEN, DiscrepancyState.RESOLVED}),
    DiscrepancyState.RESOLVED: frozenset(),
}
# What a run may do by itself: close an item it matched (withdrawing a proposal under way), and
# reclassify or open an item nobody is deciding on. An approved item (a refund or claim under way) is
# left to its follow-up.
RUN_MAY_CLOSE = (DiscrepancyState.CARRIED_OVER, DiscrepancyState.OPEN, DiscrepancyState.PROPOSED)
RUN_MAY_RECLASSIFY = (DiscrepancyState.CARRIED_OVER, DiscrepancyState.OPEN)

# Every state but RESOLVED: the item still needs something (a later file, a person, an approval).
UNRESOLVED_STATES = (
    DiscrepancyState.CARRIED_OVER,
    DiscrepancyState.OPEN,
    DiscrepancyState.PROPOSED,
    DiscrepancyState.APPROVED,
)


# Every outcome a run counts, in the order the screens list them.
RUN_OUTCOMES = (*MatchOutcome, *DiscrepancyType)


def outcome_label(key: str) -> str:
    """A run outcome (a MatchOutcome or a DiscrepancyType) as its translated label."""
    for choices in (MatchOutcome, DiscrepancyType):
        if key in choices.values:
            return str(choices(key).label)
    return key


class EffectDirection(models.TextChoices):
    OVERAGE = "OVERAGE", _("Overage (长款)")
    SHORTAGE = "SHORTAGE", _("Shortage (短款)")


class ClosedAs(models.TextChoices):
    """How a discrepancy ended: matched later by a run, or by an executed resolution."""

    CROSS_DAY_MATCH = "CROSS_DAY_MATCH", _("Matched on a later day")
    REMATCHED = "REMATCHED", _("Matched when run again (new input)")
    WITHDRAWN = "WITHDRAWN", _("No longer in the channel's corrected file")
    SUPPLEMENTED = "SUPPLEMENTED", _("Supplemented (补单)")
    REFUNDED = "REFUNDED", _("Refunded")
    ADJUSTED = "ADJUSTED", _("Adjusted (调账)")
    ACCEPTED_BANK = "ACCEPTED_BANK", _("Channel's version accepted")
    CLAIM_RECOVERED = "CLAIM_RECOVERED", _("Recovered from the bank")
    PAYEE_RECOVERED = "PAYEE_RECOVERED", _("Recovered from the payee")
    WRITTEN_OFF = "WRITTEN_OFF", _("Written off")
    DISMISSED = "DISMISSED", _("Dismissed: both payments were due")
    MANUALLY_MATCHED = "MANUALLY_MATCHED", _("Paired manually (手工勾兑)")
    SETTLED = "SETTLED", _("Settled: the movement arrived")


def status_label(code: str) -> str:
    """A transaction or line status code (SUCCESS, UNKNOWN, …) as its translated label."""
    for choices in (TransactionStatus, LineStatus):
        if code in choices.values:
            return str(choices(code).label)
    return code


# The dimensions the discrepancy queue's filters and the dashboard's groups use, all columns of both
# Discrepancy and DiscrepancyTally (``channel`` as its column).
TALLY_KEYS = ("channel_id", "business_date", "type", "state", "direction", "currency")


def _tally_change(*, added: str | None, removed: str | None) -> str:
    """The trigger body that records what one statement changed in the discrepancies' counts and
    effects: +1 and the effect for each row it wrote (``added``, the new transition table), −1 and minus
    the effect for each row as it was before (``removed``, the old one), summed per key. Rows whose key
    and effect did not change cancel out and record nothing (an assignment, a note, a run's bookkeeping)."""
    keys = ", ".join(TALLY_KEYS)
    parts = []
    if added:
        parts.append(f"SELECT {keys}, 1 AS items, GREATEST(effect, 0) AS overage, LEAST(effect, 0) AS shortage FROM {added}")
    if removed:
        parts.append(f"SELECT {keys}, -1 AS items, -GREATEST(effect, 0) AS overage, -LEAST(effect, 0) AS shortage FROM {removed}")
    union = " UNION ALL ".join(parts)
    return f"""
        INSERT INTO reconciliation_discrepancytally ({keys}, items_change, overage_change, shortage_change)
        SELECT {keys}, sum(items), sum(overage), sum(shortage) FROM ({union}) AS change
        GROUP BY {keys}
        HAVING sum(items) <> 0 OR sum(overage) <> 0 OR sum(shortage) <> 0;
        RETURN NULL;
    """


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent())
class Discrepancy(models.Model):
    """One difference found by a run, with both sides, both amounts and its money effect.

    effect = (the bank's signed effect on our funds) − (our books' signed effect): positive is an
    overage (长款), negative a shortage (短款), zero has no direction (e.g. a status still unknown).
    """

    Type = DiscrepancyType
    State = DiscrepancyState
    Direction = EffectDirection
    ClosedAs = ClosedAs

    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="discrepancies", verbose_name=_("run"))
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="discrepancies", verbose_name=_("channel"))
    business_date = models.DateField(_("business date"), help_text=_("The date of the item that differs."))
    counterpart_date = models.DateField(
        _("counterpart's business date"),
        null=True,
        blank=True,
        help_text=_("The date of the other side's item, when the discrepancy has both sides."),
    )
    type = models.CharField(_("type"), max_length=32, choices=DiscrepancyType.choices)
    state = models.CharField(_("state"), max_length=16, choices=DiscrepancyState.choices)
    match_key = models.CharField(_("match key"), max_length=64, blank=True)
    platform_txn = models.ForeignKey(
        PlatformTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("our transaction"),
    )
    # Statement lines and fund movements are partitioned by date, and a foreign key cannot refer to a
    # partitioned table by id alone: these references are checked per statement (migration
    # 0023_statement_rows_partitioned), as a foreign key would check them.
    statement_line = models.ForeignKey(
        StatementLine,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("channel's line"),
        db_constraint=False,
    )
    related_txn = models.ForeignKey(
        PlatformTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="related_discrepancies",
        verbose_name=_("related transaction"),
        help_text=_("For a double-payment risk: the later, successful retry."),
    )
    batch_no = models.CharField(_("batch number"), max_length=64, blank=True)
    currency = currency_field()
    platform_amount = money_field(_("our amount"), null=True, blank=True)
    bank_amount = money_field(_("channel's amount"), null=True, blank=True)
    platform_status = models.CharField(_("our status"), max_length=16, blank=True)
    bank_status = models.CharField(_("channel's status"), max_length=16, blank=True)
    bank_fee = money_field(_("channel's fee"), null=True, blank=True)
    expected_fee = money_field(_("fee by our fee model"), null=True, blank=True)
    platform_fee = money_field(_("fee we recorded"), null=True, blank=True)
    # What a manual pairing (手工勾兑) left over: the difference between the items it paired. Runs leave it alone.
    manual_pairing = models.ForeignKey(
        "reconciliation.Resolution",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="remainders",
        verbose_name=_("left over by the manual pairing"),
    )
    # Stage 2: the movement on our bank account the discrepancy is about (unexpected, differing, returned).
    fund_movement = models.ForeignKey(
        FundMovement,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("fund movement"),
        db_constraint=False,  # checked per statement, as statement_line
    )
    effect = money_field(_("money effect"))
    direction = models.CharField(_("overage/shortage"), max_length=8, choices=EffectDirection.choices, blank=True)
    carry_until = models.DateField(_("carried over until"), null=True, blank=True)
    closed_as = models.CharField(_("closed as"), max_length=24, choices=ClosedAs.choices, blank=True)
    matched_run = models.ForeignKey(
        ReconciliationRun,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="closed_discrepancies",
        verbose_name=_("matched by run"),
    )
    created_at = models.DateTimeField(_("found at"))
    updated_at = models.DateTimeField(_("updated at"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    # Set as soon as a person acts on the item (assigns, notes, proposes): from then on a re-run of its
    # date leaves it alone.
    workflow_started_at = models.DateTimeField(_("workflow started"), null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_discrepancies",
        verbose_name=_("assigned to"),
    )

    class Meta:
        verbose_name = _("discrepancy")
        verbose_name_plural = _("discrepancies")
        constraints = [
            choices_check("type", DiscrepancyType, "discrepancy_type_valid"),
            choices_check("state", DiscrepancyState, "discrepancy_state_valid"),
            choices_check("closed_as", ClosedAs, "discrepancy_closed_as_valid", blank=True),
            models.CheckConstraint(condition=Q(direction__in=["", *EffectDirection.values]), name="discrepancy_direction_valid"),
            models.CheckConstraint(
                condition=(Q(effect__gt=0) & Q(direction=EffectDirection.OVERAGE))
                | (Q(effect__lt=0) & Q(direction=EffectDirection.SHORTAGE))
                | (Q(effect=0) & Q(direction="")),
                name="discrepancy_direction_follows_effect",
            ),
            models.CheckConstraint(
                condition=Q(platform_txn__isnull=False)
                | Q(statement_line__isnull=False)
                | ~Q(batch_no="")
                | Q(manual_pairing__isnull=False)
                | Q(fund_movement__isnull=False)
                | Q(type__in=FUND_TYPES),
                name="discrepancy_has_a_side",
            ),
            models.CheckConstraint(
                condition=~Q(state=DiscrepancyState.CARRIED_OVER) | Q(carry_until__isnull=False),
                name="discrepancy_carry_has_deadline",
            ),
            models.CheckConstraint(
                condition=Q(state=DiscrepancyState.RESOLVED, resolved_at__isnull=False)
                | (~Q(state=DiscrepancyState.RESOLVED) & Q(closed_as="")),
                name="discrepancy_resolved_has_time_others_no_outcome",
            ),
            # One live discrepancy per item, whatever its type: a re-run, a later day or a run of another
            # date never makes an item live twice (runs reclassify the live one in place).
            models.UniqueConstraint(
                fields=["platform_txn"],
                condition=Q(platform_txn__isnull=False, batch_no="") & ~Q(state=DiscrepancyState.RESOLVED),
                name="discrepancy_one_live_per_txn",
            ),
            models.UniqueConstraint(
                fields=["statement_line"],
                condition=Q(statement_line__isnull=False, batch_no="") & ~Q(state=DiscrepancyState.RESOLVED),
                name="discrepancy_one_live_per_line",
            ),
            models.UniqueConstraint(
                fields=["channel", "batch_no"],
                condition=~Q(batch_no="") & ~Q(state=DiscrepancyState.RESOLVED),
                name="discrepancy_one_live_per_batch",
            ),
            # Stage 2: one live discrepancy per expected settlement or movement (its match key).
            models.UniqueConstraint(
                fields=["channel", "match_key"],
                condition=Q(type__in=FUND_TYPES) & ~Q(state=DiscrepancyState.RESOLVED),
                name="discrepancy_one_live_per_fund_item",
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "state", "business_date"], name="discrepancy_channel_state"),
            models.Index(fields=["run"], name="discrepancy_run"),
            models.Index(fields=["state", "type"], name="discrepancy_state_type"),
            # Settled and live items of a date are found by either side's date.
            models.Index(
                fields=["channel", "counterpart_date"],
                name="discrepancy_counterpart_date",
                condition=Q(counterpart_date__isnull=False),
            ),
        ]
        # DiscrepancyTally, kept by the database: one trigger per kind of write (a trigger with transition
        # tables takes one event).
        triggers = [
            pgtrigger.Trigger(
                name="discrepancy_tally_insert",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                referencing=pgtrigger.Referencing(new="added"),
                func=_tally_change(added="added", removed=None),
            ),
            pgtrigger.Trigger(
                name="discrepancy_tally_update",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                referencing=pgtrigger.Referencing(old="removed", new="added"),
                func=_tally_change(added="added", removed="removed"),
            ),
            pgtrigger.Trigger(
                name="discrepancy_tally_delete",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                referencing=pgtrigger.Referencing(old="removed"),
                func=_tally_change(added=None, removed="removed"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} #{self.pk}"

    @property
    def is_fund(self) -> bool:
        """Found by stage 2 (fund reconciliation): about a settlement or a movement on our bank account."""
        return self.type in FUND_TYPES

    @property
    def age_days(self) -> int | None:
        """Days since the item's business date, in the local calendar; None once resolved."""
        if self.state == DiscrepancyState.RESOLVED:
            return None
        return (timezone.localdate() - self.business_date).days


class DiscrepancyTally(models.Model):
    """How many discrepancies there are and their overage and shortage, per channel, business date,
    type, state, direction and currency: what the queue's totals and the dashboard's figures read instead
    of adding up every discrepancy on each page view.

    Kept by the database: statement-level triggers on the discrepancy table append one row per key a
    statement changed, with the change (+/− items and effects). Nothing is updated in place, so a run
    and a clerk never wait for each other here; the figure of a key is the sum of its rows, and
    ``discrepancy_tally_compact`` (the housekeeping beat) folds a key's rows into one. Only the triggers
    and the compaction write it."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    business_date = models.DateField()
    type = models.CharField(max_length=32, choices=DiscrepancyType.choices)
    state = models.CharField(max_length=16, choices=DiscrepancyState.choices)
    direction = models.CharField(max_length=8, choices=EffectDirection.choices, blank=True)
    currency = currency_field()
    # The change one statement made (or, compacted, the sum of many): items added (−: removed), and
    # their overage (sum of positive effects) and shortage (sum of negative ones). Sums over many rows:
    # wider than one amount.
    items_change = models.BigIntegerField()
    overage_change = models.DecimalField(max_digits=28, decimal_places=4)
    shortage_change = models.DecimalField(max_digits=28, decimal_places=4)

    class Meta:
        default_permissions = ()
        constraints = [
            choices_check("type", DiscrepancyType, "discrepancytally_type_valid"),
            choices_check("state", DiscrepancyState, "discrepancytally_state_valid"),
            choices_check("direction", EffectDirection, "discrepancytally_direction_valid", blank=True),
        ]
        indexes = [models.Index(fields=["channel", "state", "business_date"], name="discrepancytally_channel")]

    def __str__(self) -> str:  # pragma: no cover - not shown anywhere
        return f"{self.channel_id} {self.business_date} {self.type} {self.state}: {self.items_change:+}"


class FindingChange(models.TextChoices):
    FOUND = "FOUND", _("Found")
    CONFIRMED = "CONFIRMED", _("Still there")
    UPDATED = "UPDATED", _("Found different")
    OPENED = "OPENED", _("Opened after its window")
    CLOSED = "CLOSED", _("Matched and closed")


# What a run left live (everything it concluded about but what it closed).
LIVE_FINDINGS = (FindingChange.FOUND, FindingChange.CONFIRMED, FindingChange.UPDATED, FindingChange.OPENED)


class RunFinding(models.Model):
    """What one run concluded about one discrepancy: found it, found it still there (unchanged or
    different), opened it after its window, or matched and closed it. Append-only: a run's story stays
    as it was told, whatever later runs conclude, so its counts and its list always agree."""

    Change = FindingChange

    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="findings", verbose_name=_("run"))
    discrepancy = models.ForeignKey(Discrepancy, on_delete=models.PROTECT, related_name="findings", verbose_name=_("discrepancy"))
    change = models.CharField(_("change"), max_length=16, choices=FindingChange.choices)

    class Meta:
        verbose_name = _("run finding")
        verbose_name_plural = _("run findings")
        constraints = [
            choices_check("change", FindingChange, "runfinding_change_valid"),
            models.UniqueConstraint(fields=["run", "discrepancy"], name="runfinding_once_per_run"),
        ]
        indexes = [models.Index(fields=["discrepancy"], name="runfinding_discrepancy")]
        triggers = [pgtrigger.Protect(name="findings_are_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"#{self.run_id} {self.get_change_display()} #{self.discrepancy_id}"


class UnlistedFailure(models.Model):
    """Our transaction recorded failed that the channel's files of its date did not list: nothing to do
    about it, no discrepancy, but a line of another date within its carry-over window may still list it
    (the bank paid after all). Runs keep it in view, as they keep items alone on one side, so a pair
    across dates is found whichever date is run first. Written and cleared by runs only."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="+", verbose_name=_("channel"))
    txn = models.OneToOneField(PlatformTransaction, on_delete=models.PROTECT, related_name="+", verbose_name=_("our transaction"))
    business_date = models.DateField(_("business date"))
    window_end = models.DateField(_("in view until"))

    class Meta:
        verbose_name = _("failed transaction not listed")
        verbose_name_plural = _("failed transactions not listed")
        indexes = [models.Index(fields=["channel", "business_date"], name="unlistedfailure_channel_date")]

    def __str__(self) -> str:
        return f"{self.txn_id} ({self.business_date})"


class ItemBookedAlone(models.Model):
    """An item of one of our batch payouts that the channel booked on a line of its own (by its number or
    serial, without the batch reference), as some banks do: runs pair it like a single payment and leave it
    out of its batch's totals. Written by the run that paired it; a later run of any date reads it, so the
    batch is judged the same whichever date is run."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="+", verbose_name=_("channel"))
    txn = models.OneToOneField(PlatformTransaction, on_delete=models.PROTECT, related_name="+", verbose_name=_("our item"))
    line = models.ForeignKey(
        StatementLine,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("the channel's line"),
        db_constraint=False,  # checked per statement, as Discrepancy.statement_line
    )
    batch_no = models.CharField(_("batch number"), max_length=64)
    # The item's business date and its line's: a run of either date pairs the two again.
    business_date = models.DateField(_("business date"))
    line_date = models.DateField(_("the line's date"))

    class Meta:
        verbose_name = _("batch item booked alone")
        verbose_name_plural = _("batch items booked alone")
        indexes = [
            models.Index(fields=["channel", "business_date"], name="itembookedalone_date"),
            models.Index(fields=["channel", "line_date"], name="itembookedalone_line_date"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_no}: {self.txn_id} -> {self.line_id}"
