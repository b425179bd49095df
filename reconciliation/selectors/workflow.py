"""Read-side queries of the resolution workflow: what waits for whom, and the trail of every step."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

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


def workflow_events(*, filters: dict) -> QuerySet[WorkflowEvent]:
    """Workflow steps in the order they happened; the date filters are local (Asia/Shanghai) calendar days."""
    events = WorkflowEvent.objects.select_related("actor").order_by("at", "id")
    if filters.get("discrepancy"):
        events = events.filter(discrepancy_id=filters["discrepancy"])
    # Bounds as aware datetimes rather than at__date, which would convert every row's time in SQL.
    if filters.get("date_from"):
        events = events.filter(at__gte=timezone.make_aware(datetime.combine(filters["date_from"], time.min)))
    if filters.get("date_to"):
        events = events.filter(at__lt=timezone.make_aware(datetime.combine(filters["date_to"] + timedelta(days=1), time.min)))
    return events
