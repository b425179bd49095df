"""The resolution workflow: a clerk proposes, a checker approves (never their own proposal), large
amounts need a second approval by an administrator, and execution happens once, atomically.

These rules live here, not in the screens, so the API obeys them too. Every step writes a
WorkflowEvent (who, when, from where, why, before and after). Execution leaves behind what the rest
of the company acts on: adjustments for the books (posted later by the ledger, which listens to
``resolution_executed``), refund orders for the payment core, claims tracked until recovered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

import django.dispatch
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Voucher
from reconciliation.models import (
    Action,
    Adjustment,
    Approval,
    BusinessType,
    Channel,
    Claim,
    Discrepancy,
    DiscrepancyType,
    EffectDirection,
    LineStatus,
    PlatformTransaction,
    RefundOrder,
    Resolution,
    SavedFilter,
    TransactionStatus,
    WorkflowEvent,
)
from reconciliation.models.workflow import (
    APPROVE_PERMISSION,
    OPEN_RESOLUTION_STATUSES,
    PROPOSE_PERMISSION,
    SECOND_APPROVAL_PERMISSION,
    WORK_PERMISSION,
)
from reconciliation.services.channels.calendar import business_days_after
from reconciliation.services.postings import adjustment_post, chart_account, day_post, write_off_post
from reconciliation.services.workflow.states import (
    AlreadyDecided,
    WorkflowForbidden,
    WorkflowRefused,
    discrepancy_move,
    event_record,
    resolution_move,
    snapshot,
    transaction_status_set,
)

# Sent after the transaction that executed a resolution commits (the books post adjustments from it).
resolution_executed = django.dispatch.Signal()

State = Discrepancy.State
Type = DiscrepancyType
PROPOSABLE_STATES = (State.OPEN, State.CARRIED_OVER)
MIN_REASON_LENGTH = 5
MAX_CARRY_EXTENSION_DAYS = 10
# Accepting the channel's version: its terminal statuses as ours (a line still processing changes nothing).
LINE_TO_TRANSACTION_STATUS = {LineStatus.SUCCESS: TransactionStatus.SUCCESS, LineStatus.FAILED: TransactionStatus.FAILED}

# Which actions make sense for which kind of difference.
ALLOWED_ACTIONS: dict[str, tuple[str, ...]] = {
    Type.BANK_ONLY: (Action.SUPPLEMENT, Action.REFUND, Action.ADJUSTMENT, Action.WRITE_OFF, Action.EXTEND_CARRY_OVER),
    Type.PLATFORM_ONLY: (Action.ACCEPT_BANK, Action.CLAIM, Action.ADJUSTMENT, Action.WRITE_OFF, Action.EXTEND_CARRY_OVER),
    Type.STATUS_MISMATCH: (Action.SUPPLEMENT, Action.ACCEPT_BANK, Action.CLAIM, Action.ADJUSTMENT, Action.WRITE_OFF),
    Type.AMOUNT_MISMATCH: (
        Action.ACCEPT_BANK,
        Action.CLAIM,
        Action.REFUND,
        Action.ADJUSTMENT,
        Action.WRITE_OFF,
        Action.EXTEND_CARRY_OVER,
    ),
    Type.FEE_MISMATCH: (Action.ACCEPT_BANK, Action.CLAIM, Action.ADJUSTMENT, Action.WRITE_OFF),
    Type.DUPLICATE: (Action.REFUND, Action.CLAIM, Action.ADJUSTMENT, Action.WRITE_OFF),
    Type.DOUBLE_PAYMENT_RISK: (Action.RECOVERY, Action.DISMISS, Action.ADJUSTMENT, Action.WRITE_OFF),
    # Stage 2: book it (调账 between the bank account and the right account), claim it, or write it off.
    Type.SETTLEMENT_MISSING: (Action.CLAIM, Action.ADJUSTMENT, Action.WRITE_OFF, Action.EXTEND_CARRY_OVER),
    Type.SETTLEMENT_AMOUNT_MISMATCH: (Action.CLAIM, Action.REFUND, Action.ADJUSTMENT, Action.WRITE_OFF),
    Type.UNEXPECTED_MOVEMENT: (Action.ADJUSTMENT, Action.CLAIM, Action.REFUND, Action.WRITE_OFF),
    Type.RETURN_UNMATCHED: (Action.ADJUSTMENT, Action.CLAIM, Action.WRITE_OFF),
    Type.FEE_CHARGE_MISMATCH: (Action.CLAIM, Action.ADJUSTMENT, Action.WRITE_OFF),
    # 账实核对: a voucher (补账) by adjustment, or a claim.
    Type.JOURNAL_MISSING: (Action.ADJUSTMENT, Action.CLAIM),
    Type.JOURNAL_EXTRA: (Action.ADJUSTMENT, Action.CLAIM),
}


def _txn_snapshot(txn: PlatformTransaction | None) -> dict:
    if txn is None:
        return {}
    return {
        "txn_no": txn.txn_no,
        "status": txn.status,
        "amount": str(txn.amount),
        "fee": None if txn.fee is None else str(txn.fee),
        "channel_txn_no": txn.channel_txn_no,
    }


# --- assignment and notes ------------------------------------------------------------------------


def _require(acting_user, permission: str, message: str) -> None:
    if not acting_user.has_perm(permission):
        raise WorkflowForbidden(message)


# Which permissions allow each step of the workflow (any one of them). The screens and the API ask first,
# before reading the request, so a role that may not take a step is told so (403) whatever it sent; the
# service functions check again, with the finer rules (another person, the threshold, the state).
STEP_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "propose": (PROPOSE_PERMISSION,),
    "pair": (PROPOSE_PERMISSION,),
    "approve": (APPROVE_PERMISSION, SECOND_APPROVAL_PERMISSION),
    "reject": (APPROVE_PERMISSION, SECOND_APPROVAL_PERMISSION),
    "assign": (WORK_PERMISSION,),
    "note": (WORK_PERMISSION,),
    "bulk": (WORK_PERMISSION,),
    "recovered": (PROPOSE_PERMISSION,),
    "recovery_confirm": (APPROVE_PERMISSION,),
    "recovery_reject": (APPROVE_PERMISSION,),
    "filter_save": ("reconciliation.add_savedfilter",),
    "filter_delete": ("reconciliation.delete_savedfilter",),
}
STEP_REFUSALS = {
    "propose": gettext_lazy("Your role may not propose resolutions."),
    "pair": gettext_lazy("Your role may not propose resolutions."),
    "approve": gettext_lazy("Your role may not approve or reject resolutions."),
    "reject": gettext_lazy("Your role may not approve or reject resolutions."),
    "assign": gettext_lazy("Your role may not take on discrepancies."),
    "note": gettext_lazy("Your role may not write notes on discrepancies."),
    "bulk": gettext_lazy("Your role may not take on discrepancies."),
    "recovered": gettext_lazy("Your role may not record money recovered."),
    "recovery_confirm": gettext_lazy("Your role may not confirm money recovered."),
    "recovery_reject": gettext_lazy("Your role may not confirm money recovered."),
    "filter_save": gettext_lazy("Your role may not save filters."),
    "filter_delete": gettext_lazy("Your role may not delete filters."),
}


def step_require(acting_user, step: str) -> None:
    """Refuse (WorkflowForbidden) a person whose role may not take this step at all."""
    if not any(acting_user.has_perm(p) for p in STEP_PERMISSIONS[step]):
        raise WorkflowForbidden(str(STEP_REFUSALS[step]))


def discrepancies_assign(*, discrepancies: QuerySet[Discrepancy], assignee, acting_user, now: datetime, source: str) -> int:
    """Assign items (bulk-safe: resolved items are skipped). Returns how many were assigned."""
    _require(acting_user, WORK_PERMISSION, _("Your role may not take on discrepancies."))
    if not assignee.has_perm(WORK_PERMISSION):
        raise WorkflowRefused(_("%(user)s may not work on discrepancies.") % {"user": assignee})
    count = 0
    with transaction.atomic():
        for d in discrepancies.select_for_update().exclude(state=State.RESOLVED).order_by("id"):
            before = snapshot(d)
            d.assigned_to = assignee
            d.workflow_started_at = d.workflow_started_at or now
            d.updated_at = now
            d.save(update_fields=["assigned_to", "workflow_started_at", "updated_at"])
            event_record(
                d, WorkflowEvent.Kind.ASSIGNED, actor=acting_user, now=now, source=source, before=before, after=snapshot(d)
            )
            count += 1
    return count


def discrepancy_note(*, discrepancy: Discrepancy, text: str, acting_user, now: datetime, source: str) -> None:
    _require(acting_user, WORK_PERMISSION, _("Your role may not write notes on discrepancies."))
    if len(text.strip()) < 2:
        raise WorkflowRefused(_("Write the note first."))
    with transaction.atomic():
        Discrepancy.objects.filter(pk=discrepancy.pk, workflow_started_at__isnull=True).update(workflow_started_at=now)
        event_record(discrepancy, WorkflowEvent.Kind.NOTE, actor=acting_user, now=now, source=source, reason=text.strip())


def queue_filter_save(*, owner, name: str, query: str, now: datetime) -> SavedFilter:
    """A person's named queue filter (saved again under the same name, it is replaced)."""
    _require(owner, "reconciliation.add_savedfilter", _("Your role may not save filters."))
    saved, _created = SavedFilter.objects.update_or_create(owner=owner, name=name, defaults={"query": query, "created_at": now})
    return saved


def queue_filter_delete(*, owner, pk: int) -> bool:
    """Delete one of the person's own filters (another person's is never found)."""
    _require(owner, "reconciliation.delete_savedfilter", _("Your role may not delete filters."))
    deleted, _rows = SavedFilter.objects.filter(owner=owner, pk=pk).delete()
    return bool(deleted)


# --- proposing -----------------------------------------------------------------------------------


def _money(value, name: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, TypeError):
        raise WorkflowRefused(_("%(name)s: '%(value)s' is not an amount.") % {"name": name, "value": value}) from None
    if not amount.is_finite() or amount <= 0:
        raise WorkflowRefused(_("%(name)s must be a positive amount.") % {"name": name})
    return amount


def _validated(discrepancy: Discrepancy, action: str, params: dict) -> tuple[dict, Decimal]:
    """(clean params, amount at stake) for an action on this discrepancy, or WorkflowRefused."""
    d = discrepancy
    effect = abs(d.effect)
    if action == Action.SUPPLEMENT:
        # Our record moves to success on the channel's word (a batch's debit paid an item without a line of
        # its own); a missing order is created from the channel's line.
        if d.bank_status != LineStatus.SUCCESS or (d.platform_txn_id is None and d.statement_line_id is None):
            raise WorkflowRefused(_("A supplement needs the channel's successful line to copy."))
        if d.platform_txn_id and d.platform_status == TransactionStatus.SUCCESS:
            raise WorkflowRefused(_("Our record is already a success: nothing to supplement."))
        _refuse_paying_twice(d)
        if d.platform_txn_id is None and (held := _order_we_hold(d)) is not None:
            raise WorkflowRefused(
                _("We already hold order %(txn)s for this channel transaction: a supplement would record it twice.")
                % {"txn": held.txn_no}
            )
        return {}, d.bank_amount or Decimal(0)
    if action == Action.REFUND:
        if d.effect <= 0:
            raise WorkflowRefused(_("Only money we received and should not keep can be refunded (an overage)."))
        amount = _money(params.get("amount", effect), _("Refund amount"))
        if amount > effect:
            raise WorkflowRefused(_("The refund cannot exceed the overage of %(effect)s.") % {"effect": effect})
        return {"amount": str(amount)}, amount
    if action == Action.ADJUSTMENT:
        accounts = {k: str(params.get(k, "")).strip() for k in ("debit_account", "credit_account")}
        if not all(accounts.values()):
            raise WorkflowRefused(_("An adjustment names the account to debit and the account to credit."))
        if accounts["debit_account"] == accounts["credit_account"]:
            raise WorkflowRefused(_("Debit and credit must be two different accounts."))
        for code in accounts.values():
            if chart_account(code, d.currency) is None:
                raise WorkflowRefused(
                    _("%(code)s is not an open account of the chart in %(currency)s: choose one of the chart's accounts.")
                    % {"code": code, "currency": d.currency}
                )
        amount = _money(params.get("amount", effect), _("Adjustment amount"))
        memo = str(params.get("memo", "")).strip() or _("Adjustment of discrepancy #%(id)s") % {"id": d.pk}
        return {**accounts, "amount": str(amount), "memo": memo[:200]}, amount
    if action == Action.ACCEPT_BANK:
        if d.platform_txn_id is None:
            raise WorkflowRefused(_("Accepting the channel's version needs our transaction to correct."))
        return {}, effect
    if action == Action.CLAIM:
        if d.effect >= 0:
            raise WorkflowRefused(_("A claim recovers a shortage: the bank holds less than our books."))
        return {}, effect
    if action == Action.RECOVERY:
        if d.type != Type.DOUBLE_PAYMENT_RISK or d.platform_amount is None:
            raise WorkflowRefused(_("Recovery from the payee is for a payout paid twice."))
        return {}, d.platform_amount
    if action == Action.DISMISS:
        if d.type != Type.DOUBLE_PAYMENT_RISK or d.effect != 0:
            raise WorkflowRefused(_("Only a suspected double payment the channel's statement agrees with can be dismissed."))
        return {}, Decimal(0)
    if action == Action.WRITE_OFF:
        if effect == 0:
            raise WorkflowRefused(_("Nothing to write off: the money effect is zero."))
        if effect > d.channel.write_off_threshold:
            raise WorkflowRefused(
                _("%(effect)s is above the write-off limit of channel %(channel)s (%(limit)s).")
                % {"effect": effect, "channel": d.channel.code, "limit": d.channel.write_off_threshold}
            )
        return {}, effect
    if action == Action.EXTEND_CARRY_OVER:
        try:
            days = int(params.get("days", 1))
        except (TypeError, ValueError):
            raise WorkflowRefused(_("Give the number of business days to extend by.")) from None
        if not 1 <= days <= MAX_CARRY_EXTENSION_DAYS:
            raise WorkflowRefused(_("Extend by 1 to %(max)d business days.") % {"max": MAX_CARRY_EXTENSION_DAYS})
        return {"days": days}, Decimal(0)
    raise WorkflowRefused(_("Unknown action %(action)s.") % {"action": action})


def _refuse_paying_twice(d: Discrepancy) -> None:
    """A payment out we hold as failed or unknown whose retry succeeded: the channel paying it too means the
    payee was paid twice. Recording it as a success would hide that; a run flags it as a double payment."""
    txn = d.platform_txn
    if txn is None or txn.business_type not in (BusinessType.PAYOUT, BusinessType.REFUND):
        return
    if (retry := _paid_again(txn)) is not None:
        raise WorkflowRefused(
            _(
                "Our payment %(txn)s was retried as %(retry)s, which succeeded: the channel paying this one too is a "
                "double payment to recover (追款), not a supplement. Run the date again to flag it."
            )
            % {"txn": txn.txn_no, "retry": retry.txn_no}
        )


def _paid_again(txn: PlatformTransaction) -> PlatformTransaction | None:
    """The first successful later payment of the same order, or of the same amount to the same payee within
    the channel's double-payment window (the engine's same_payment_sql, for one transaction)."""
    same = PlatformTransaction.objects.filter(
        channel_id=txn.channel_id,
        business_type=txn.business_type,
        status=TransactionStatus.SUCCESS,
        amount=txn.amount,
        batch_no="",
        created_at__gte=txn.created_at,
    ).exclude(pk=txn.pk)
    by = Q(pk__in=[])
    if txn.order_no:
        by |= Q(order_no=txn.order_no)
    if txn.counterparty_account:
        window = timedelta(hours=txn.channel.double_payment_window_hours)
        by |= Q(counterparty_account=txn.counterparty_account, account_id=txn.account_id, created_at__lt=txn.created_at + window)
    return same.filter(by).order_by("created_at", "id").first()


def _order_we_hold(d: Discrepancy) -> PlatformTransaction | None:
    """Our order for the channel's line of a bank-only item, if we hold one under its number or serial."""
    line = d.statement_line
    held = Q(txn_no=line.txn_no) if line.txn_no else Q(pk__in=[])
    if line.channel_txn_no:
        held |= Q(channel=d.channel, channel_txn_no=line.channel_txn_no)
    return PlatformTransaction.objects.filter(held).order_by("id").first()


def needs_second_approval(d: Discrepancy, *, action: str, amount: Decimal) -> bool:
    """A proposal needs an administrator's second approval when its amount is above the channel's
    approval threshold (strictly: an amount equal to the threshold needs one approval), or when it is an
    adjustment (调账) of more than the discrepancy's own effect. Read when it is proposed and again when a
    checker approves it, with the channel's threshold as it is then (a lowered threshold applies to
    proposals still waiting; a raised one never drops a second approval already required)."""
    threshold = Channel.objects.values_list("approval_threshold", flat=True).get(pk=d.channel_id)
    beyond_effect = action == Action.ADJUSTMENT and d.effect and amount > abs(d.effect)
    return amount > threshold or bool(beyond_effect)


def proposal_create(
    d: Discrepancy, *, action: str, reason: str, params: dict, amount: Decimal, acting_user, now: datetime
) -> Resolution:
    """The proposal's row, on a discrepancy the caller holds locked; a second one waiting on the same
    discrepancy is refused by the database's partial unique index, whoever got there first."""
    try:
        with transaction.atomic():
            return Resolution.objects.create(
                discrepancy=d,
                action=action,
                reason=reason,
                params=params,
                amount=amount,
                currency=d.currency,
                needs_second_approval=needs_second_approval(d, action=action, amount=amount),
                proposed_by=acting_user,
                proposed_at=now,
            )
    except IntegrityError:
        raise AlreadyDecided(_("This discrepancy already has a proposal waiting for approval.")) from None


def discrepancy_propose(
    *,
    discrepancy: Discrepancy,
    action: str,
    reason: str,
    params: dict | None = None,
    acting_user,
    now: datetime,
    source: str,
) -> Resolution:
    """A clerk proposes how to resolve an item; it waits for a checker."""
    _require(acting_user, PROPOSE_PERMISSION, _("You are not allowed to propose resolutions."))
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise WorkflowRefused(_("Give a reason of at least %(n)d characters.") % {"n": MIN_REASON_LENGTH})
    if action not in Action.values:
        raise WorkflowRefused(_("Unknown action %(action)s.") % {"action": action})
    with transaction.atomic():
        d = Discrepancy.objects.select_for_update(of=("self",)).select_related("channel").get(pk=discrepancy.pk)
        if d.state not in PROPOSABLE_STATES:
            raise AlreadyDecided(
                _("This discrepancy is %(state)s: it cannot take a new proposal.") % {"state": d.get_state_display().lower()}
            )
        if action not in ALLOWED_ACTIONS.get(d.type, ()):
            raise WorkflowRefused(
                _("%(action)s does not apply to a %(type)s.")
                % {"action": Action(action).label, "type": d.get_type_display().lower()}
            )
        clean, amount = _validated(d, action, params or {})
        resolution = proposal_create(
            d, action=action, reason=reason, params=clean, amount=amount, acting_user=acting_user, now=now
        )
        discrepancy_move(
            discrepancy=d,
            to=State.PROPOSED,
            kind=WorkflowEvent.Kind.PROPOSED,
            actor=acting_user,
            now=now,
            source=source,
            reason=reason,
            resolution=resolution,
            changes={"workflow_started_at": d.workflow_started_at or now},
            outcome={"action": action, "params": clean, "amount": str(amount)},
        )
    return resolution


# --- deciding ------------------------------------------------------------------------------------


def _locked(resolution: Resolution) -> tuple[Resolution, Discrepancy]:
    r = Resolution.objects.select_for_update().get(pk=resolution.pk)
    d = (
        Discrepancy.objects.select_for_update(of=("self",))
        .select_related("channel__bank", "platform_txn", "statement_line")
        .get(pk=r.discrepancy_id)
    )
    return r, d


def _already_decided(r: Resolution) -> AlreadyDecided:
    if r.status == Resolution.Status.WITHDRAWN:
        return AlreadyDecided(_("This proposal was withdrawn: a run matched the item meanwhile."))
    last = r.approvals.select_related("decided_by").order_by("-decided_at").first()
    if last is None:
        return AlreadyDecided(_("This proposal is no longer waiting for a decision."))
    facts = {"user": last.decided_by.get_username(), "when": timezone.localtime(last.decided_at).strftime("%Y-%m-%d %H:%M:%S")}
    if last.decision == Approval.Decision.REJECT:
        return AlreadyDecided(_("Already rejected by %(user)s at %(when)s; nothing was done twice.") % facts)
    return AlreadyDecided(_("Already approved by %(user)s at %(when)s; nothing was done twice.") % facts)


def resolution_approve(*, resolution: Resolution, comment: str = "", acting_user, now: datetime, source: str) -> Resolution:
    """Approve a proposal; the final approval executes it in the same transaction. Safe against double
    submits and concurrent checkers: the proposal row is locked and its status decides."""
    with transaction.atomic():
        r, d = _locked(resolution)
        if r.status not in OPEN_RESOLUTION_STATUSES:
            raise _already_decided(r)
        if acting_user.pk == r.proposed_by_id:
            raise WorkflowRefused(_("You proposed this resolution: another person must approve it."))
        if r.status == Resolution.Status.PROPOSED:
            _require(acting_user, APPROVE_PERMISSION, _("Only a checker can approve resolutions."))
            level = Approval.Level.CHECKER
        else:
            _require(
                acting_user,
                SECOND_APPROVAL_PERMISSION,
                _("Above the channel's threshold a second approval by an administrator is needed."),
            )
            if r.approvals.filter(decided_by=acting_user).exists():
                raise WorkflowRefused(_("You gave the first approval: another administrator must give the second."))
            level = Approval.Level.SECOND
        Approval.objects.create(
            resolution=r,
            level=level,
            decision=Approval.Decision.APPROVE,
            comment=comment.strip(),
            decided_by=acting_user,
            decided_at=now,
        )
        needs = r.needs_second_approval or needs_second_approval(d, action=r.action, amount=r.amount)
        if level == Approval.Level.CHECKER and needs:
            resolution_move(resolution=r, to=Resolution.Status.FIRST_APPROVED, now=now, changes={"needs_second_approval": True})
            event_record(
                d,
                WorkflowEvent.Kind.SECOND_APPROVAL_NEEDED,
                actor=acting_user,
                now=now,
                source=source,
                reason=comment,
                resolution=r,
            )
            return r
        event_record(d, WorkflowEvent.Kind.APPROVED, actor=acting_user, now=now, source=source, reason=comment, resolution=r)
        _execute(r, d, acting_user=acting_user, now=now, source=source)
    transaction.on_commit(lambda: resolution_executed.send(sender=Resolution, resolution=r))
    return r


def resolution_reject(*, resolution: Resolution, comment: str, acting_user, now: datetime, source: str) -> Resolution:
    """Reject a proposal with a comment: the discrepancy goes back to OPEN for a new proposal."""
    if len((comment or "").strip()) < MIN_REASON_LENGTH:
        raise WorkflowRefused(_("Say why you reject it (at least %(n)d characters).") % {"n": MIN_REASON_LENGTH})
    with transaction.atomic():
        r, d = _locked(resolution)
        if r.status not in OPEN_RESOLUTION_STATUSES:
            raise _already_decided(r)
        if acting_user.pk == r.proposed_by_id:
            raise WorkflowRefused(_("You proposed this resolution: another person must decide on it."))
        needed = APPROVE_PERMISSION if r.status == Resolution.Status.PROPOSED else SECOND_APPROVAL_PERMISSION
        if not acting_user.has_perm(needed):
            raise WorkflowRefused(_("Only a checker can reject resolutions."))
        level = Approval.Level.CHECKER if r.status == Resolution.Status.PROPOSED else Approval.Level.SECOND
        Approval.objects.create(
            resolution=r,
            level=level,
            decision=Approval.Decision.REJECT,
            comment=comment.strip(),
            decided_by=acting_user,
            decided_at=now,
        )
        resolution_move(resolution=r, to=Resolution.Status.REJECTED, now=now)
        for item in (d, *_paired_with(r, d)):  # a manual pairing's other items go back with it
            discrepancy_move(
                discrepancy=item,
                to=State.OPEN,
                kind=WorkflowEvent.Kind.REJECTED,
                actor=acting_user,
                now=now,
                source=source,
                reason=comment.strip(),
                resolution=r,
            )
    return r


# --- executing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Executed:
    """What executing an action does to its discrepancy: the state it moves to, the fields it sets, and
    the outcome recorded on the resolution and in the trail."""

    to: str
    outcome: dict
    changes: dict = field(default_factory=dict)

    @classmethod
    def closed(cls, closed_as: str, outcome: dict, **changes) -> Executed:
        return cls(State.RESOLVED, outcome, {"closed_as": closed_as, **changes})


def _supplement(r: Resolution, d: Discrepancy, ctx: dict) -> Executed:
    line, txn, now = d.statement_line, d.platform_txn, ctx["now"]
    _refuse_paying_twice(d)  # a retry may have come in since the proposal
    before = _txn_snapshot(txn)
    if txn is None:
        if (held := _order_we_hold(d)) is not None:  # it arrived since the proposal
            raise WorkflowRefused(
                _("We already hold order %(txn)s for this channel transaction: a supplement would record it twice.")
                % {"txn": held.txn_no}
            )
        txn_no = line.txn_no or f"SUP{line.pk}"
        txn = PlatformTransaction.objects.create(
            txn_no=txn_no,
            channel=d.channel,
            channel_txn_no=line.channel_txn_no,
            business_type=BusinessType(line.line_type),
            amount=line.amount,
            currency=line.currency,
            fee=line.fee,
            status=PlatformTransaction.Status.SUCCESS,
            created_at=line.occurred_at or now,
            completed_at=line.completed_at or line.occurred_at or now,
            business_date=d.business_date,
            source_line=line,
            origin=PlatformTransaction.Origin.SUPPLEMENT,
            received_at=now,
            updated_at=now,
        )
    else:
        transaction_status_set(txn=txn, to=PlatformTransaction.Status.SUCCESS, discrepancy=d, resolution=r, **ctx)
        if line is not None:
            txn.channel_txn_no = txn.channel_txn_no or line.channel_txn_no
            txn.source_line = line
        txn.completed_at = txn.completed_at or (line and (line.completed_at or line.occurred_at)) or now
        txn.save(update_fields=["channel_txn_no", "completed_at", "source_line", "updated_at"])
    outcome = {"transaction": txn.txn_no, "before": before, "after": _txn_snapshot(txn)}
    outcome["vouchers"] = _post_day(r, txn, Voucher.Kind.SUPPLEMENT, ctx["now"])
    return Executed.closed(Discrepancy.ClosedAs.SUPPLEMENTED, outcome, platform_txn=txn)


def _post_day(r: Resolution, txn: PlatformTransaction, kind: str | None, now) -> list[str]:
    """What the resolution changed in our records, into the books (the difference on the transaction's day)."""
    why = _("%(action)s of discrepancy #%(id)s") % {"action": Action(r.action).label, "id": r.discrepancy_id}
    vouchers = day_post(channel=txn.channel, day=txn.business_date, now=now, kind=kind, source_key=f"resolution:{r.pk}", why=why)
    return [v.number for v in vouchers]


def _accept_bank(r: Resolution, d: Discrepancy, ctx: dict) -> Executed:
    txn = d.platform_txn
    before = _txn_snapshot(txn)
    if d.statement_line_id is None:
        # The channel never listed it (it failed), or a batch's debit paid it or a return gave it back.
        status = LINE_TO_TRANSACTION_STATUS.get(d.bank_status, PlatformTransaction.Status.FAILED)
    else:
        line = d.statement_line
        txn.amount, txn.fee = line.amount, line.fee
        txn.channel_txn_no = txn.channel_txn_no or line.channel_txn_no
        txn.source_line = line
        txn.save(update_fields=["amount", "fee", "channel_txn_no", "source_line"])
        status = LINE_TO_TRANSACTION_STATUS.get(line.status, txn.status)
    transaction_status_set(txn=txn, to=status, discrepancy=d, resolution=r, **ctx)
    outcome = {"transaction": txn.txn_no, "before": before, "after": _txn_snapshot(txn)}
    outcome["vouchers"] = _post_day(r, txn, None, ctx["now"])
    return Executed.closed(Discrepancy.ClosedAs.ACCEPTED_BANK, outcome)


def _adjustment(r: Resolution, *, voucher, amount: Decimal, memo: str, closed_as: str, now) -> Executed:
    debit, credit = (e.ledger_account.code for e in voucher.entries.select_related("ledger_account").order_by("-debit"))
    adjustment = Adjustment.objects.create(
        resolution=r,
        debit_account=debit,
        credit_account=credit,
        amount=amount,
        currency=r.currency,
        memo=memo,
        created_at=now,
        status=Adjustment.Status.POSTED,
        voucher=voucher,
    )
    outcome = {
        "adjustment": adjustment.pk,
        "voucher": voucher.number,
        "debit": debit,
        "credit": credit,
        "amount": str(amount),
        "memo": memo,
    }
    return Executed.closed(closed_as, outcome)


def _write_off(r: Resolution, d: Discrepancy, ctx: dict) -> Executed:
    if abs(d.effect) > d.channel.write_off_threshold:  # the limit may have been lowered since the proposal
        raise WorkflowRefused(_("The amount is now above the channel's write-off limit."))
    memo = _("Write-off of discrepancy #%(id)s") % {"id": d.pk}
    voucher = write_off_post(
        channel=d.channel, day=d.business_date, effect=d.effect, memo=memo, source_key=f"resolution:{r.pk}", now=ctx["now"]
    )
    return _adjustment(
        r, voucher=voucher, amount=abs(d.effect), memo=memo, closed_as=Discrepancy.ClosedAs.WRITTEN_OFF, now=ctx["now"]
    )


def _adjust(r: Resolution, d: Discrepancy, ctx: dict) -> Executed:
    p = r.params
    debit, credit = chart_account(p["debit_account"], d.currency), chart_account(p["credit_account"], d.currency)
    if debit is None or credit is None:  # closed since the proposal
        raise WorkflowRefused(_("An account of this adjustment is no longer open in the chart."))
    amount = Decimal(p["amount"])
    voucher = adjustment_post(
        debit=debit,
        credit=credit,
        amount=amount,
        day=d.business_date,
        memo=p["memo"],
        source_key=f"resolution:{r.pk}",
        now=ctx["now"],
    )
    return _adjustment(r, voucher=voucher, amount=amount, memo=p["memo"], closed_as=Discrepancy.ClosedAs.ADJUSTED, now=ctx["now"])


def _refund(r: Resolution, d: Discrepancy, ctx: dict) -> Executed:
    order = RefundOrder.objects.create(
        resolution=r,
        refund_no=f"RF{r.pk:012d}",
        original_txn=d.platform_txn,
        original_channel_txn_no=d.statement_line.channel_txn_no if d.statement_line_id else "",
        amount=Decimal(r.params["amount"]),
        currency=r.currency,
        created_at=ctx["now"],
    )
    # Resolved when the payment core reports the refund.
    return Executed(State.APPROVED, {"refund_order": order.refund_no, "amount": str(order.amount)})


def _claim_from(kind: str):
    def claim(r: Resolution, d: Discrepancy, ctx: dict) -> Executed:
        if kind == Claim.Kind.BANK:
            counterparty, amount = d.channel.bank.name, abs(d.effect)
        else:
            txn = d.platform_txn
            counterparty = txn.counterparty_name or txn.counterparty_account[-4:]
            amount = d.platform_amount
        claim = Claim.objects.create(
            resolution=r, kind=kind, counterparty=counterparty, amount=amount, currency=r.currency, opened_at=ctx["now"]
        )
        # Resolved once the money is recovered.
        return Executed(State.APPROVED, {"claim": claim.pk, "amount": str(amount), "from": counterparty})

    return claim


def _dismiss(r: Resolution, d: Discrepancy, ctx: dict) -> Executed:
    return Executed.closed(Discrepancy.ClosedAs.DISMISSED, {"dismissed": True, "related": d.related_txn_id})


def _paired_with(r: Resolution, lead: Discrepancy) -> list[Discrepancy]:
    """The other items of a manual pairing, locked."""
    return list(
        Discrepancy.objects.select_for_update(of=("self",)).filter(pairings__resolution=r).exclude(pk=lead.pk).order_by("pk")
    )


def _pair(r: Resolution, d: Discrepancy, ctx: dict) -> Executed:
    """Close every item of a manual pairing as manually matched; what they leave over is one new discrepancy."""
    others = _paired_with(r, d)
    for other in others:
        discrepancy_move(
            discrepancy=other,
            to=State.RESOLVED,
            kind=WorkflowEvent.Kind.EXECUTED,
            resolution=r,
            changes={"closed_as": Discrepancy.ClosedAs.MANUALLY_MATCHED},
            outcome={"paired_with": d.pk},
            **ctx,
        )
    remainder = Decimal(r.params["remainder"])
    outcome = {"paired": [d.pk, *(o.pk for o in others)], "remainder": str(remainder)}
    if abs(remainder) > d.channel.amount_tolerance:
        left = Discrepancy.objects.create(
            run_id=d.run_id,
            channel=d.channel,
            business_date=d.business_date,
            type=Type.AMOUNT_MISMATCH,
            state=State.OPEN,
            match_key=f"PAIR-{r.pk}",
            currency=d.currency,
            platform_amount=Decimal(r.params["ours_total"]),
            bank_amount=Decimal(r.params["theirs_total"]),
            effect=remainder,
            direction=EffectDirection.OVERAGE if remainder > 0 else EffectDirection.SHORTAGE,
            manual_pairing=r,
            created_at=ctx["now"],
            updated_at=ctx["now"],
        )
        event_record(
            left,
            WorkflowEvent.Kind.FOUND,
            actor=ctx["actor"],
            now=ctx["now"],
            source=ctx["source"],
            reason=_("Left over by the manual pairing of discrepancy #%(id)s.") % {"id": d.pk},
            after=snapshot(left),
            resolution=r,
        )
        outcome["remainder_discrepancy"] = left.pk
    return Executed.closed(Discrepancy.ClosedAs.MANUALLY_MATCHED, outcome)


def _extend(r: Resolution, d: Discrepancy, ctx: dict) -> Executed:
    start = max(filter(None, (d.carry_until, d.business_date)))
    until = business_days_after(channel=d.channel, day=start, count=r.params["days"])
    return Executed(State.CARRIED_OVER, {"carry_until": until.isoformat()}, {"carry_until": until})


EXECUTORS = {
    Action.SUPPLEMENT: _supplement,
    Action.ACCEPT_BANK: _accept_bank,
    Action.ADJUSTMENT: _adjust,
    Action.WRITE_OFF: _write_off,
    Action.REFUND: _refund,
    Action.CLAIM: _claim_from(Claim.Kind.BANK),
    Action.RECOVERY: _claim_from(Claim.Kind.PAYEE),
    Action.EXTEND_CARRY_OVER: _extend,
    Action.DISMISS: _dismiss,
    Action.MANUAL_MATCH: _pair,
}


def _execute(r: Resolution, d: Discrepancy, *, acting_user, now: datetime, source: str) -> None:
    ctx = {"actor": acting_user, "now": now, "source": source}
    done = EXECUTORS[r.action](r, d, ctx)
    resolution_move(resolution=r, to=Resolution.Status.EXECUTED, now=now, changes={"executed_at": now, "outcome": done.outcome})
    discrepancy_move(
        discrepancy=d,
        to=done.to,
        kind=WorkflowEvent.Kind.EXECUTED,
        resolution=r,
        changes=done.changes,
        outcome=done.outcome,
        **ctx,
    )


# --- follow-ups: refunds reported by the payment core, claims recovered --------------------------


def refund_order_report(
    *, order: RefundOrder, succeeded: bool, channel_txn_no: str = "", acting_user, now: datetime, source: str
) -> RefundOrder:
    """The payment core reports a refund order's outcome (idempotent for the same outcome)."""
    with transaction.atomic():
        order = (
            RefundOrder.objects.select_for_update(of=("self",))
            .select_related("resolution__discrepancy", "original_txn")
            .get(pk=order.pk)
        )
        outcome = RefundOrder.Status.SUCCEEDED if succeeded else RefundOrder.Status.FAILED
        if order.status != RefundOrder.Status.PENDING:
            if order.status == outcome:
                return order
            raise AlreadyDecided(
                _("Refund %(no)s was already reported as %(status)s.")
                % {"no": order.refund_no, "status": order.get_status_display().lower()}
            )
        d = Discrepancy.objects.select_for_update(of=("self",)).select_related("channel").get(pk=order.resolution.discrepancy_id)
        order.status, order.reported_at = outcome, now
        if succeeded:
            order.refund_txn = PlatformTransaction.objects.create(
                txn_no=order.refund_no,
                channel=d.channel,
                channel_txn_no=channel_txn_no,
                business_type=BusinessType.REFUND,
                original=order.original_txn,
                amount=order.amount,
                currency=order.currency,
                status=PlatformTransaction.Status.SUCCESS,
                created_at=now,
                completed_at=now,
                business_date=timezone.localdate(now),
                origin=PlatformTransaction.Origin.REFUND_ORDER,
                received_at=now,
                updated_at=now,
            )
        order.save()
        discrepancy_move(
            discrepancy=d,
            to=State.RESOLVED if succeeded else State.OPEN,  # a failed refund needs another decision
            kind=WorkflowEvent.Kind.REFUND_REPORTED,
            actor=acting_user,
            now=now,
            source=source,
            reason=f"{order.refund_no}: {order.get_status_display()}",
            resolution=order.resolution,
            changes={"closed_as": Discrepancy.ClosedAs.REFUNDED} if succeeded else {},
        )
    return order


def claim_recovery_report(*, claim: Claim, reference: str, acting_user, now: datetime, source: str) -> Claim:
    """A clerk records that the claimed money came back (its reference); a checker confirms it."""
    _require(acting_user, PROPOSE_PERMISSION, _("Your role may not record money recovered."))
    if not reference.strip():
        raise WorkflowRefused(_("Give the reference of the money received (e.g. the bank's serial)."))
    with transaction.atomic():
        claim = Claim.objects.select_for_update(of=("self",)).select_related("resolution").get(pk=claim.pk)
        if claim.status != Claim.Status.OPEN:
            raise AlreadyDecided(_("This claim's recovery was already reported."))
        claim.status, claim.reference = Claim.Status.REPORTED, reference.strip()[:100]
        claim.reported_by, claim.reported_at = acting_user, now
        claim.save(update_fields=["status", "reference", "reported_by", "reported_at"])
        d = Discrepancy.objects.get(pk=claim.resolution.discrepancy_id)
        event_record(
            d, WorkflowEvent.Kind.RECOVERY_REPORTED, actor=acting_user, now=now, source=source, reason=claim.reference,
            resolution=claim.resolution,
        )  # fmt: skip
    return claim


def claim_recovery_decide(*, claim: Claim, confirm: bool, comment: str = "", acting_user, now: datetime, source: str) -> Claim:
    """A checker who did not report it confirms the money recovered (the discrepancy resolves) or sends the
    claim back to open (the comment says why)."""
    _require(acting_user, APPROVE_PERMISSION, _("Your role may not confirm money recovered."))
    with transaction.atomic():
        claim = Claim.objects.select_for_update(of=("self",)).select_related("resolution").get(pk=claim.pk)
        if claim.status != Claim.Status.REPORTED:
            raise AlreadyDecided(_("There is no reported recovery of this claim to decide."))
        if claim.reported_by_id == acting_user.pk:
            raise WorkflowRefused(_("The person who reported the recovery cannot confirm it."))
        d = Discrepancy.objects.select_for_update().get(pk=claim.resolution.discrepancy_id)
        if not confirm:
            if len(comment.strip()) < MIN_REASON_LENGTH:
                raise WorkflowRefused(_("Say why (at least %(n)d characters).") % {"n": MIN_REASON_LENGTH})
            claim.status, claim.reference, claim.reported_by, claim.reported_at = Claim.Status.OPEN, "", None, None
            claim.save(update_fields=["status", "reference", "reported_by", "reported_at"])
            event_record(
                d, WorkflowEvent.Kind.RECOVERY_REJECTED, actor=acting_user, now=now, source=source, reason=comment.strip(),
                resolution=claim.resolution,
            )  # fmt: skip
            return claim
        claim.status, claim.recovered_at, claim.confirmed_by = Claim.Status.RECOVERED, now, acting_user
        claim.save(update_fields=["status", "recovered_at", "confirmed_by"])
        closed = Discrepancy.ClosedAs.CLAIM_RECOVERED if claim.kind == Claim.Kind.BANK else Discrepancy.ClosedAs.PAYEE_RECOVERED
        discrepancy_move(
            discrepancy=d,
            to=State.RESOLVED,
            kind=WorkflowEvent.Kind.CLAIM_RECOVERED,
            actor=acting_user,
            now=now,
            source=source,
            reason=claim.reference,
            resolution=claim.resolution,
            changes={"closed_as": closed},
        )
    return claim
