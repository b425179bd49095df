"""Manual pairing (手工勾兑): a clerk pairs items of our side with items of the channel's that are one payment
under different numbers (our record under a wrong order number, a channel that split or merged lines),
says why, and a checker approves. All of them close as manually matched; what their amounts leave over
becomes one new discrepancy. Until approved they still take part in matching: a run that matches one of
them withdraws the pairing (services/engine/stage1.py), and it is never executed.

Proposing is here; approving, rejecting and executing go through the one workflow of resolution.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from backoffice.core.money import money_str
from reconciliation.models import Action, Discrepancy, DiscrepancyType, Resolution, ResolutionItem, WorkflowEvent
from reconciliation.models.workflow import PROPOSE_PERMISSION
from reconciliation.services.workflow.resolution import MIN_REASON_LENGTH, PROPOSABLE_STATES, proposal_create
from reconciliation.services.workflow.states import AlreadyDecided, WorkflowRefused, discrepancy_move

# Items alone on one side: ours the channel did not list, the channel's we hold no record of.
OUR_SIDE = (DiscrepancyType.PLATFORM_ONLY,)
CHANNEL_SIDE = (DiscrepancyType.BANK_ONLY, DiscrepancyType.DUPLICATE)
MAX_ITEMS = 50


@dataclass(frozen=True)
class PairingPreview:
    """What pairing the given items would do: both sides, their totals and what is left over."""

    ours: list[Discrepancy]
    theirs: list[Discrepancy]
    currency: str
    ours_total: Decimal
    theirs_total: Decimal
    remainder: Decimal  # the sum of the items' money effects: the new discrepancy's, if beyond tolerance

    @property
    def leaves_remainder(self) -> bool:
        return abs(self.remainder) > self.ours[0].channel.amount_tolerance

    def params(self) -> dict:
        return {
            "ours": [d.pk for d in self.ours],
            "theirs": [d.pk for d in self.theirs],
            "ours_total": money_str(self.ours_total, self.currency),
            "theirs_total": money_str(self.theirs_total, self.currency),
            "remainder": money_str(self.remainder, self.currency),
        }


def pairing_preview(*, discrepancies: list[Discrepancy]) -> PairingPreview:
    """Check that the items can be paired (WorkflowRefused says why not) and sum them up."""
    items = sorted({d.pk: d for d in discrepancies}.values(), key=lambda d: d.pk)
    if len(items) > MAX_ITEMS:
        raise WorkflowRefused(_("Pair at most %(n)d items at once.") % {"n": MAX_ITEMS})
    if len({(d.channel_id, d.currency) for d in items}) > 1:
        raise WorkflowRefused(_("Only items of one channel and one currency can be paired."))
    for d in items:
        if d.state not in PROPOSABLE_STATES:
            raise AlreadyDecided(
                _("Discrepancy #%(id)s is %(state)s: it cannot be paired now.")
                % {"id": d.pk, "state": d.get_state_display().lower()}
            )
        if d.manual_pairing_id or d.batch_no or d.type not in (*OUR_SIDE, *CHANNEL_SIDE):
            raise WorkflowRefused(
                _("Discrepancy #%(id)s is a %(type)s: only items alone on one side can be paired.")
                % {"id": d.pk, "type": d.get_type_display().lower()}
            )
    ours = [d for d in items if d.type in OUR_SIDE]
    theirs = [d for d in items if d.type in CHANNEL_SIDE]
    if not ours or not theirs:
        raise WorkflowRefused(_("Pick at least one item of our side and one of the channel's."))
    return PairingPreview(
        ours=ours,
        theirs=theirs,
        currency=items[0].currency,
        ours_total=sum((d.platform_amount or Decimal(0) for d in ours), Decimal(0)),
        theirs_total=sum((d.bank_amount or Decimal(0) for d in theirs), Decimal(0)),
        remainder=sum((d.effect for d in items), Decimal(0)),
    )


def discrepancies_pair(*, discrepancies: list[Discrepancy], reason: str, acting_user, now: datetime, source: str) -> Resolution:
    """Propose a manual pairing of the items; each waits in PROPOSED until a checker decides."""
    if not acting_user.has_perm(PROPOSE_PERMISSION):
        raise WorkflowRefused(_("You are not allowed to propose resolutions."))
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise WorkflowRefused(_("Give a reason of at least %(n)d characters.") % {"n": MIN_REASON_LENGTH})
    with transaction.atomic():
        locked = list(
            Discrepancy.objects.select_for_update(of=("self",))
            .select_related("channel")
            .filter(pk__in=[d.pk for d in discrepancies])
            .order_by("pk")
        )
        if len(locked) != len({d.pk for d in discrepancies}):
            raise WorkflowRefused(_("Some of these discrepancies no longer exist."))
        preview = pairing_preview(discrepancies=locked)
        lead = preview.ours[0]
        amount = max(preview.ours_total, preview.theirs_total)
        resolution = proposal_create(
            lead, action=Action.MANUAL_MATCH, reason=reason, params=preview.params(), amount=amount, acting_user=acting_user,
            now=now,
        )  # fmt: skip
        ResolutionItem.objects.bulk_create(ResolutionItem(resolution=resolution, discrepancy=d) for d in locked)
        for d in locked:
            discrepancy_move(
                discrepancy=d,
                to=Discrepancy.State.PROPOSED,
                kind=WorkflowEvent.Kind.PROPOSED,
                actor=acting_user,
                now=now,
                source=source,
                reason=reason,
                resolution=resolution,
                changes={"workflow_started_at": d.workflow_started_at or now},
                outcome={"action": Action.MANUAL_MATCH, "params": preview.params(), "amount": str(amount)},
            )
    return resolution
