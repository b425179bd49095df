"""Read-side queries of the resolution workflow: what waits for whom, and the trail of every step."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Q, QuerySet

from reconciliation.filters import WorkflowEventFilter
from reconciliation.models import UNRESOLVED_STATES, Discrepancy, Resolution, WorkflowEvent
from reconciliation.models.workflow import APPROVE_PERMISSION, SECOND_APPROVAL_PERMISSION


def awaiting_my_approval(*, user) -> QuerySet[Resolution]:
    """Proposals this user may decide now: first approvals for a checker, second approvals (above a
    channel's threshold) for an administrator. Never their own proposal, never one they approved already."""
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
        .order_by("proposed_at", "id")
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
