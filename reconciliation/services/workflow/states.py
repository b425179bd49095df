"""The only writers of a discrepancy's state, a proposal's status and (against its usual moves) a
transaction's status, as people's actions change them.

Each move is checked against its table (DISCREPANCY_MOVES, RESOLUTION_MOVES, STATUS_MOVES and
STATUS_CORRECTIONS in the models), done as a compare-and-set in the database (``UPDATE … WHERE state =
the state the caller saw``: a concurrent change makes it fail instead of being overwritten) and, for a
discrepancy, recorded as a WorkflowEvent with the state before and after. Runs move states with set
updates guarded by the same tables (services/engine/stage1.py).
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from reconciliation.models import (
    DISCREPANCY_MOVES,
    STATUS_CORRECTIONS,
    STATUS_MOVES,
    Discrepancy,
    PlatformTransaction,
    Resolution,
    WorkflowEvent,
)
from reconciliation.models.workflow import RESOLUTION_MOVES


class WorkflowRefused(Exception):
    """An action the rules do not allow, with a message for the person who tried it."""


class WorkflowForbidden(WorkflowRefused, PermissionDenied):
    """The person's role may not do this at all: a PermissionDenied too, so a screen that lets it through
    answers 403 with its message (the API maps it to a JSON 403)."""


class AlreadyDecided(WorkflowRefused):
    """Somebody else decided first (a double click, a retried request, two checkers at once)."""


class MoveRefused(WorkflowRefused):
    """A state change the table of allowed moves does not hold."""


def _source(source: str) -> str:
    return (source or "")[:100]


def snapshot(discrepancy: Discrepancy) -> dict:
    """What a workflow event records of a discrepancy before and after a step."""
    return {
        "state": discrepancy.state,
        "assigned_to": discrepancy.assigned_to_id,
        "carry_until": discrepancy.carry_until.isoformat() if discrepancy.carry_until else None,
        "closed_as": discrepancy.closed_as,
    }


def event_record(
    discrepancy: Discrepancy,
    kind: str,
    *,
    actor,
    now: datetime,
    source: str,
    reason: str = "",
    before: dict | None = None,
    after: dict | None = None,
    resolution: Resolution | None = None,
) -> WorkflowEvent:
    return WorkflowEvent.objects.create(
        discrepancy=discrepancy,
        resolution=resolution,
        kind=kind,
        actor=actor,
        at=now,
        source=_source(source),
        reason=reason,
        before=before or {},
        after=after or {},
    )


def discrepancy_move(
    *,
    discrepancy: Discrepancy,
    to: str,
    kind: str,
    actor,
    now: datetime,
    source: str,
    reason: str = "",
    resolution: Resolution | None = None,
    changes: dict | None = None,
    outcome: dict | None = None,
) -> Discrepancy:
    """Move ``discrepancy`` from the state the caller loaded to ``to`` (with ``changes`` to other fields
    in the same update), and record the step. Raises MoveRefused when the table does not allow the move,
    AlreadyDecided when the row changed state meanwhile. ``outcome`` is added to the event's after."""
    d = discrepancy
    came_from = d.state
    if to not in DISCREPANCY_MOVES[came_from]:
        raise MoveRefused(
            _("A discrepancy that is %(from)s cannot become %(to)s.")
            % {"from": Discrepancy.State(came_from).label.lower(), "to": Discrepancy.State(to).label.lower()}
        )
    before = snapshot(d)
    fields = {**(changes or {}), "state": to, "updated_at": now}
    if to == Discrepancy.State.RESOLVED:
        fields.setdefault("resolved_at", now)
        if not fields.get("closed_as") and not d.closed_as:
            raise ValueError("a discrepancy is resolved with the way it closed (closed_as)")
    else:
        fields["closed_as"] = ""
    moved = Discrepancy.objects.filter(pk=d.pk, state=came_from).update(**fields)
    if not moved:
        raise AlreadyDecided(_("This discrepancy was changed by someone else meanwhile; reload it and look again."))
    for name, value in fields.items():
        setattr(d, name, value)
    event_record(
        d,
        kind,
        actor=actor,
        now=now,
        source=source,
        reason=reason,
        before=before,
        after={**snapshot(d), **(outcome or {})},
        resolution=resolution,
    )
    return d


def resolution_move(*, resolution: Resolution, to: str, now: datetime, changes: dict | None = None) -> Resolution:
    """Move a proposal's status (compare-and-set; its discrepancy's event records the step)."""
    r = resolution
    came_from = r.status
    if to not in RESOLUTION_MOVES[came_from]:
        raise MoveRefused(
            _("A proposal that is %(from)s cannot become %(to)s.")
            % {"from": Resolution.Status(came_from).label.lower(), "to": Resolution.Status(to).label.lower()}
        )
    fields = {**(changes or {}), "status": to}
    if to in (Resolution.Status.EXECUTED, Resolution.Status.REJECTED, Resolution.Status.WITHDRAWN):
        fields.setdefault("decided_at", now)
    if not Resolution.objects.filter(pk=r.pk, status=came_from).update(**fields):
        raise AlreadyDecided(_("This proposal is no longer waiting for a decision."))
    for name, value in fields.items():
        setattr(r, name, value)
    return r


def transaction_status_set(
    *, txn: PlatformTransaction, to: str, discrepancy: Discrepancy, resolution: Resolution, actor, now: datetime, source: str
) -> None:
    """Set our transaction's status as an executed resolution decides. A move STATUS_MOVES allows is
    ordinary; one only STATUS_CORRECTIONS allows (success ↔ failed) is a named correction with its own
    event; any other is refused. Compare-and-set on the status the caller saw."""
    came_from = txn.status
    if to == came_from:
        return
    correction = to in STATUS_CORRECTIONS[came_from]
    if to not in STATUS_MOVES[came_from] and not correction:
        raise MoveRefused(
            _("Our record cannot move from %(from)s to %(to)s.")
            % {
                "from": PlatformTransaction.Status(came_from).label.lower(),
                "to": PlatformTransaction.Status(to).label.lower(),
            }
        )
    if not PlatformTransaction.objects.filter(pk=txn.pk, status=came_from).update(status=to, updated_at=now):
        raise AlreadyDecided(_("Our record %(txn)s was changed meanwhile; reload and look again.") % {"txn": txn.txn_no})
    txn.status, txn.updated_at = to, now
    if correction:
        event_record(
            discrepancy,
            WorkflowEvent.Kind.STATUS_CORRECTED,
            actor=actor,
            now=now,
            source=source,
            reason=_("%(txn)s: %(from)s → %(to)s, as the channel reports it") % {"txn": txn.txn_no, "from": came_from, "to": to},
            before={"transaction": txn.txn_no, "status": came_from},
            after={"transaction": txn.txn_no, "status": to},
            resolution=resolution,
        )
