"""Every write of the queue checks the person's permission in the service, not only in the template:
taking items on, notes, saved filters, and recording money recovered (which needs a second person).
Tried over HTTP as every role; a refusal is a 403 with its reason, and nothing is written."""

from decimal import Decimal

import pytest
from django.utils import timezone
from helpers import stored_discrepancy

from backoffice.core.roles import PAYMENT_CORE
from reconciliation.models import Action, Claim, Discrepancy, Resolution, SavedFilter, WorkflowEvent

ROLES = ("clerk", "checker", "admin_staff", "auditor", "payment_core")
WORKERS = {"clerk", "checker"}


@pytest.fixture
def payment_core(make_staff):
    return make_staff(PAYMENT_CORE)


@pytest.fixture
def people(request):
    return {role: request.getfixturevalue(role) for role in ROLES}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_taking_items_on_and_writing_notes_is_for_clerks_and_checkers(client, wx, people, role):
    d = stored_discrepancy(wx, "10.00")
    client.force_login(people[role])
    allowed = role in WORKERS
    assign = client.post(f"/discrepancies/{d.pk}/assign/")
    note = client.post(f"/discrepancies/{d.pk}/note/", {"text": "called the bank"})
    bulk = client.post("/discrepancies/bulk/", {"ids": [d.pk], "bulk_action": "assign_me"})
    expected = 302 if allowed else 403
    assert (assign.status_code, note.status_code, bulk.status_code) == (expected, expected, expected)
    if not allowed:
        assert "may not" in assign.content.decode()
    d.refresh_from_db()
    assert (d.assigned_to == people[role]) is allowed
    assert WorkflowEvent.objects.filter(discrepancy=d, kind="NOTE").exists() is allowed


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_saved_filters_are_for_clerks_and_checkers(client, wx, people, role):
    user = people[role]
    mine = SavedFilter.objects.create(owner=user, name="old", query="state=OPEN", created_at=timezone.now())
    client.force_login(user)
    saved = client.post("/filters/save/", {"name": "today", "query": "type=BANK_ONLY"})
    deleted = client.post(f"/filters/{mine.pk}/delete/")
    allowed = role in WORKERS
    assert (saved.status_code, deleted.status_code) == ((302, 302) if allowed else (403, 403))
    assert set(SavedFilter.objects.filter(owner=user).values_list("name", flat=True)) == ({"today"} if allowed else {"old"})


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_money_recovered_is_reported_by_a_clerk_and_confirmed_by_another_person(client, wx, people, clerk, checker, role):
    d = stored_discrepancy(wx, "-12.00", type="PLATFORM_ONLY", state="APPROVED")
    now = timezone.now()
    r = Resolution.objects.create(
        discrepancy=d, action=Action.CLAIM, status=Resolution.Status.EXECUTED, reason="claim it from the bank",
        amount=Decimal("12.00"), currency="CNY", proposed_by=clerk, proposed_at=now, decided_at=now, executed_at=now,
    )  # fmt: skip
    claim = Claim.objects.create(
        resolution=r, kind="BANK", counterparty="bank", amount=Decimal("12.00"), currency="CNY", opened_at=now
    )
    client.force_login(people[role])
    report = client.post(f"/discrepancies/{d.pk}/recovered/", {"claim": claim.pk, "reference": "RET-1"})
    claim.refresh_from_db()
    if role != "clerk":
        assert report.status_code == 403 and claim.status == "OPEN"
        return
    assert report.status_code == 302 and (claim.status, claim.reported_by) == ("REPORTED", clerk)
    d.refresh_from_db()
    assert d.state == "APPROVED"  # one person said so: not resolved yet
    own = client.post(f"/discrepancies/{d.pk}/recovery_confirm/", {"claim": claim.pk})
    assert own.status_code == 403  # a clerk may not confirm at all
    for other in ("admin_staff", "auditor", "payment_core"):
        client.force_login(people[other])
        assert client.post(f"/discrepancies/{d.pk}/recovery_confirm/", {"claim": claim.pk}).status_code == 403
    client.force_login(checker)
    page = client.get(f"/discrepancies/{d.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Confirm recovered" in page and "RET-1" in page
    assert client.post(f"/discrepancies/{d.pk}/recovery_confirm/", {"claim": claim.pk}).status_code == 302
    d.refresh_from_db()
    claim.refresh_from_db()
    assert (d.state, d.closed_as, claim.status, claim.confirmed_by) == ("RESOLVED", "CLAIM_RECOVERED", "RECOVERED", checker)
    assert Discrepancy.objects.filter(state="RESOLVED").count() == 1
