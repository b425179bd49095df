"""Read-side queries of the resolution workflow: what waits for whom, and the trail of every step."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Q, QuerySet

from reconciliation.filters import WorkflowEventFilter
from reconciliation.models import UNRESOLVED_STATES, Discrepancy, Resolution, WorkflowEvent
from reconciliation.models.workflow import APPROVE_PERMISSION, SECOND_APPROVAL_PERMISSION


def awaiting_my_approval(*, user) -> QuerySet[Resolution]:
    """Proposals this user may decide now: first approvals for a checker, second approvals (above a
    channel's threshold) for an administrator. Never their own proposal, never one they approved already.
    Newest first."""
    waiting = []
    if user.has_perm(APPROVE_PERMISSION):
        waiting.append(Q(status=Resolution.Status.PROPOSED))
    if user.has_perm(SECOND_APPROVAL_PERMISSION):
        waiting.append(Q(status=Resolution.Status.FIRST_APPROVED) & ~Q(approvals__decided_by=user))
    if not waiting:
        return Resolution.objects.none()
    condition = waiting[0]
    for more in waiting[1:]:
        condition |= more
    return (
        Resolution.objects.filter(condition)
        .exclude(proposed_by=user)
        .select_related("discrepancy__channel", "proposed_by")
        .order_by("-proposed_at", "-id")
    )


def assigned_to_me(*, user) -> QuerySet[Discrepancy]:
    """Unresolved discrepancies assigned to this user, oldest business date first."""
    return (
        Discrepancy.objects.filter(assigned_to=user, state__in=UNRESOLVED_STATES)
        .select_related("channel")
        .order_by("business_date", "id")
    )


def workflow_events(*, params: Mapping) -> WorkflowEventFilter:
    """Workflow steps in the order they happened, filtered by date and discrepancy."""
    return WorkflowEventFilter(params, queryset=WorkflowEvent.objects.select_related("actor").order_by("at", "id"))


def discrepancy_resolutions(*, discrepancy: Discrepancy) -> QuerySet[Resolution]:
    """A discrepancy's resolutions, newest first, with what the page shows of each joined in: who proposed
    it, the adjustment, refund order or claim its execution created, and every approval with its decider."""
    return (
        # Its own, and the manual pairings that take it in.
        Resolution.objects.filter(Q(discrepancy=discrepancy) | Q(items__discrepancy=discrepancy))
        .distinct()
        .select_related("proposed_by", "adjustment", "refund_order__refund_txn", "claim")
        .prefetch_related("approvals__decided_by", "items__discrepancy__platform_txn", "items__discrepancy__statement_line")
        .order_by("-proposed_at", "-id")
    )


def discrepancy_events(*, discrepancy: Discrepancy) -> QuerySet[WorkflowEvent]:
    """A discrepancy's history, newest first."""
    return discrepancy.workflow_events.select_related("actor", "resolution").order_by("-at", "-id")
