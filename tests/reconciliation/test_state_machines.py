"""The state machines of discrepancies, proposals and (for corrections) our transactions: one table of
allowed moves each, one transition function that compares and sets in the database and records the step."""

import ast
from pathlib import Path

import pytest
from django.utils import timezone
from helpers import stored_discrepancy, txn

from reconciliation.models import (
    DISCREPANCY_MOVES,
    RUN_MAY_CLOSE,
    RUN_MAY_RECLASSIFY,
    STATUS_CORRECTIONS,
    STATUS_MOVES,
    Discrepancy,
    DiscrepancyState,
    PlatformTransaction,
    Resolution,
    TransactionStatus,
    WorkflowEvent,
)
from reconciliation.models.workflow import RESOLUTION_MOVES
from reconciliation.services.workflow.states import (
    AlreadyDecided,
    MoveRefused,
    discrepancy_move,
    resolution_move,
    transaction_status_set,
)

ROOT = Path(__file__).resolve().parents[2]
S = DiscrepancyState
CLOSING = {"closed_as": Discrepancy.ClosedAs.ADJUSTED}


def move(d, to, **kwargs):
    return discrepancy_move(
        discrepancy=d,
        to=to,
        kind=WorkflowEvent.Kind.NOTE,
        actor=None,
        now=timezone.now(),
        source="test",
        changes=CLOSING if to == S.RESOLVED else None,
        **kwargs,
    )


def test_the_tables_cover_every_state_and_what_runs_may_do_is_allowed():
    assert set(DISCREPANCY_MOVES) == set(S.values)
    assert set(RESOLUTION_MOVES) == set(Resolution.Status.values)
    assert set(STATUS_MOVES) == set(STATUS_CORRECTIONS) == set(TransactionStatus.values)
    assert all(S.RESOLVED in DISCREPANCY_MOVES[state] for state in RUN_MAY_CLOSE)
    assert all(S.OPEN in DISCREPANCY_MOVES[state] for state in RUN_MAY_RECLASSIFY if state != S.OPEN)
    assert DISCREPANCY_MOVES[S.RESOLVED] == frozenset()  # resolved is final
    assert not set(STATUS_MOVES[TransactionStatus.SUCCESS]) | set(STATUS_MOVES[TransactionStatus.FAILED])


@pytest.mark.django_db
@pytest.mark.parametrize("came_from", list(S))
@pytest.mark.parametrize("to", list(S))
def test_every_move_is_allowed_or_refused_by_the_table(channel, came_from, to):
    d = stored_discrepancy(
        channel,
        "5.00",
        state=came_from,
        carry_until=timezone.localdate(),
        **({"resolved_at": timezone.now(), "closed_as": "ADJUSTED"} if came_from == S.RESOLVED else {}),
    )
    if to in DISCREPANCY_MOVES[came_from]:
        move(d, to, reason="why")
        d.refresh_from_db()
        event = d.workflow_events.get()
        assert d.state == to and (event.before["state"], event.after["state"]) == (came_from, to)
        assert (d.resolved_at is not None) == (to == S.RESOLVED) and (d.closed_as != "") == (to == S.RESOLVED)
    else:
        with pytest.raises(MoveRefused):
            move(d, to)
        d.refresh_from_db()
        assert d.state == came_from and not d.workflow_events.exists()


@pytest.mark.django_db
def test_a_move_from_a_state_that_changed_meanwhile_is_refused_not_overwritten(channel):
    d = stored_discrepancy(channel, "5.00", state=S.OPEN)
    stale = Discrepancy.objects.get(pk=d.pk)
    move(d, S.PROPOSED)  # somebody else moved it first
    with pytest.raises(AlreadyDecided):
        move(stale, S.RESOLVED)
    d.refresh_from_db()
    assert d.state == S.PROPOSED and d.workflow_events.count() == 1


@pytest.mark.django_db
def test_a_proposal_moves_only_as_its_table_says(channel, clerk):
    d = stored_discrepancy(channel, "5.00", state=S.PROPOSED)
    now = timezone.now()
    r = Resolution.objects.create(
        discrepancy=d, action="WRITE_OFF", reason="small", amount=5, currency="CNY", proposed_by=clerk, proposed_at=now
    )
    stale = Resolution.objects.get(pk=r.pk)
    resolution_move(resolution=r, to=Resolution.Status.WITHDRAWN, now=now)
    assert Resolution.objects.get(pk=r.pk).status == "WITHDRAWN" and r.decided_at == now
    with pytest.raises(AlreadyDecided):
        resolution_move(resolution=stale, to=Resolution.Status.EXECUTED, now=now)
    with pytest.raises(MoveRefused):
        resolution_move(resolution=r, to=Resolution.Status.PROPOSED, now=now)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "came_from, to, outcome",
    [
        ("UNKNOWN", "SUCCESS", "ordinary"),
        ("PROCESSING", "FAILED", "ordinary"),
        ("FAILED", "SUCCESS", "correction"),
        ("SUCCESS", "FAILED", "correction"),
        ("SUCCESS", "UNKNOWN", "refused"),
        ("FAILED", "PROCESSING", "refused"),
    ],
)
def test_our_status_moves_ordinarily_or_as_a_named_correction(channel, clerk, came_from, to, outcome):
    t = txn(channel, "T1", "5.00", status=came_from)
    d = stored_discrepancy(channel, "5.00", state=S.PROPOSED, platform_txn=t)
    now = timezone.now()
    r = Resolution.objects.create(
        discrepancy=d, action="ACCEPT_BANK", reason="why", amount=5, currency="CNY", proposed_by=clerk, proposed_at=now
    )
    kwargs = {"txn": t, "to": to, "discrepancy": d, "resolution": r, "actor": clerk, "now": now, "source": "x"}
    if outcome == "refused":
        with pytest.raises(MoveRefused):
            transaction_status_set(**kwargs)
        assert PlatformTransaction.objects.get(pk=t.pk).status == came_from
        return
    transaction_status_set(**kwargs)
    assert PlatformTransaction.objects.get(pk=t.pk).status == to
    corrections = d.workflow_events.filter(kind="STATUS_CORRECTED")
    assert corrections.count() == (1 if outcome == "correction" else 0)
    if outcome == "correction":
        event = corrections.get()
        assert (event.before["status"], event.after["status"], event.resolution) == (came_from, to, r)


def test_nothing_but_the_transition_functions_assigns_a_state():
    """Product code never sets ``.state`` (discrepancies) or a resolution's ``.status`` by assignment or
    ``update(state=...)``: the engine's SQL and services/workflow/states.py are the only writers."""
    offenders = []
    for path in (ROOT / "reconciliation").rglob("*.py"):
        if "migrations" in path.parts or path.name == "states.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(element, ast.Attribute) and element.attr == "state":
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                    if isinstance(element, ast.Attribute) and element.attr == "status" and _names_a_resolution(element):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "update":
                if any(k.arg == "state" for k in node.keywords):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def _names_a_resolution(attribute: ast.Attribute) -> bool:
    return isinstance(attribute.value, ast.Name) and attribute.value.id in {"r", "resolution"}
