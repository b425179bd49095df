"""Who may do what, URL by URL: every URL of the screens and the API, as every role (anonymous, clerk,
checker, administrator, auditor, the payment core), with GET and each write method, against the expected
answer written down here. A URL added without an entry fails the test. A refused write answers 403 (an
anonymous one: the login page, or 401 on the API) and leaves the database as it was.

The table says who is refused; an allowed request may still be refused for what it carries (a form error,
a state that does not allow the step): those rules have their own tests. What this test holds is the
boundary between roles, which a template hiding a button does not hold."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from helpers import D, api_key_for, parsed_file, stored_discrepancy, stored_run, txn

from accounts.models import LedgerRole, Voucher
from accounts.services.books import Line, ledger_for, voucher_propose
from reconciliation.models import (
    Action,
    Discrepancy,
    PlatformTransaction,
    ReconciliationRun,
    RefundOrder,
    Resolution,
    SavedFilter,
    StatementFile,
    WorkflowEvent,
)

ANON, CLERK, CHECKER, ADMIN, AUDITOR, CORE = "anonymous", "clerk", "checker", "admin", "auditor", "payment_core"
USER_ADMIN = "user_admin"  # staff and tokens only: nothing of money, so none of these URLs
ROLES = (ANON, CLERK, CHECKER, ADMIN, AUDITOR, CORE, USER_ADMIN)
STAFF = {CLERK, CHECKER, ADMIN, AUDITOR}
READERS = STAFF | {CORE}
WORKERS = {CLERK, CHECKER}

# URL name → {method: roles allowed}. GET of a page is a read; every other method a write.
MATRIX: dict[str, dict[str, set[str]]] = {
    "dashboard": {"GET": STAFF | {CORE, USER_ADMIN}},  # each shows only what the person may read
    "reconciliation:statement_list": {"GET": READERS},
    "reconciliation:statement_upload": {"GET": {CLERK, ADMIN, CORE}, "POST": {CLERK, ADMIN, CORE}},
    "reconciliation:statement_detail": {"GET": READERS},
    "reconciliation:statement_progress": {"GET": READERS},
    "reconciliation:statement_replace": {"POST": {CLERK, ADMIN, CORE}},
    "reconciliation:statement_parse_again": {"POST": {CLERK, ADMIN, CORE}},
    "reconciliation:run_list": {"GET": READERS},
    "reconciliation:run_request": {"POST": {CLERK, ADMIN, CORE}},
    "reconciliation:run_detail": {"GET": READERS},
    "reconciliation:run_progress": {"GET": READERS},
    "reconciliation:clearing": {"GET": READERS},
    "reconciliation:fund_report": {"GET": READERS},
    "reconciliation:bank_journal": {"GET": STAFF},
    "reconciliation:discrepancy_list": {"GET": READERS},
    "reconciliation:discrepancy_bulk": {"POST": WORKERS},
    "reconciliation:discrepancy_pair": {"GET": READERS, "POST": {CLERK}},
    "reconciliation:discrepancy_detail": {"GET": READERS},
    "reconciliation:discrepancy_act:propose": {"POST": {CLERK}},
    "reconciliation:discrepancy_act:approve": {"POST": {CHECKER, ADMIN}},
    "reconciliation:discrepancy_act:reject": {"POST": {CHECKER, ADMIN}},
    "reconciliation:discrepancy_act:assign": {"POST": WORKERS},
    "reconciliation:discrepancy_act:note": {"POST": WORKERS},
    "reconciliation:discrepancy_act:recovered": {"POST": {CLERK}},
    "reconciliation:discrepancy_act:recovery_confirm": {"POST": {CHECKER}},
    "reconciliation:discrepancy_act:recovery_reject": {"POST": {CHECKER}},
    "reconciliation:approvals": {"GET": READERS},
    "reconciliation:saved_filter_save": {"POST": WORKERS},
    "reconciliation:saved_filter_delete": {"POST": WORKERS},
    "exports:discrepancies": {"GET": READERS},
    "exports:audit": {"GET": STAFF},
    "exports:runs": {"GET": READERS},
    "exports:clearing": {"GET": READERS},
    "exports:bank_journal": {"GET": STAFF},
    "books:trial_balance": {"GET": STAFF},
    "books:ledger_account": {"GET": STAFF},
    "books:voucher_list": {"GET": STAFF},
    "books:voucher_new": {"GET": {CLERK}, "POST": {CLERK}},
    "books:voucher_detail": {"GET": STAFF},
    "books:voucher_decide:approve": {"POST": {CHECKER}},
    "books:voucher_decide:reject": {"POST": {CHECKER}},
    "books:party_account": {"GET": STAFF},
    "api-schema": {"GET": READERS | {USER_ADMIN}},
    "api-docs": {"GET": READERS | {USER_ADMIN}},
    "api-redoc": {"GET": READERS | {USER_ADMIN}},
    "api-root": {"GET": READERS | {USER_ADMIN}},
    "api-discrepancy-propose": {"POST": {CLERK}},
    "api-discrepancies-pair": {"POST": {CLERK}},
    "api-resolution-approve": {"POST": {CHECKER, ADMIN}},
    "api-resolution-reject": {"POST": {CHECKER, ADMIN}},
    # The payment core's own endpoints: its transactions and refund outcomes, nobody else's writes.
    "transaction-list": {"GET": READERS, "POST": {CORE}},
    "transaction-bulk": {"POST": {CORE}},
    "transaction-detail": {"GET": READERS},
    "statement-list": {"GET": READERS, "POST": {CLERK, ADMIN, CORE}},
    "statement-detail": {"GET": READERS},
    "run-list": {"GET": READERS, "POST": {CLERK, ADMIN, CORE}},
    "run-detail": {"GET": READERS},
    "run-outcome": {"GET": READERS},
    "discrepancy-list": {"GET": READERS},
    "discrepancy-detail": {"GET": READERS},
    "refund-order-list": {"GET": READERS},
    "refund-order-detail": {"GET": READERS},
    "refund-order-outcome": {"POST": {CORE}},
}
# Open to everyone, or Django's own (login, password, language): not part of the roles' boundary.
OUTSIDE = {
    "login", "logout", "password_change", "password_change_done", "password_reset", "password_reset_done",
    "password_reset_confirm", "password_reset_complete", "set_language",
}  # fmt: skip
VERBS = {"reconciliation:discrepancy_act": ("propose", "approve", "reject", "assign", "note", "recovered",
                                            "recovery_confirm", "recovery_reject"),
         "books:voucher_decide": ("approve", "reject")}  # fmt: skip


def url_names() -> set[str]:
    """Every named URL of the site but the admin's (its own permission system, tested apart)."""
    names: set[str] = set()

    def walk(patterns, namespace=None, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern).startswith("admin/"):
                    continue
                walk(p.url_patterns, p.namespace or namespace, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and p.name:
                name = f"{namespace}:{p.name}" if namespace else p.name
                names.update(f"{name}:{verb}" for verb in VERBS.get(name, ())) if name in VERBS else names.add(name)

    walk(get_resolver().url_patterns)
    return names - OUTSIDE


def test_every_url_has_an_entry_in_the_matrix():
    assert url_names() - set(MATRIX) == set(), "add the new URLs to MATRIX: who may GET and write them"
    assert set(MATRIX) - url_names() == set(), "MATRIX names URLs that no longer exist"


# --- the world every request is made against ---------------------------------------------------------


@pytest.fixture
def world(wx, clerk, checker, make_customer, make_account):
    now = timezone.now()
    ours = txn(wx, "T-1", "10.00")
    d = stored_discrepancy(wx, "10.00")
    r = Resolution.objects.create(
        discrepancy=stored_discrepancy(wx, "-3.00", platform_txn=ours, type="PLATFORM_ONLY"), action=Action.REFUND,
        status=Resolution.Status.EXECUTED, reason="refund it", amount=Decimal("3.00"), currency="CNY", proposed_by=clerk,
        proposed_at=now, decided_at=now, executed_at=now,
    )  # fmt: skip
    refund = RefundOrder.objects.create(
        resolution=r, refund_no="RF-1", original_txn=ours, amount=Decimal("3.00"), currency="CNY", created_at=now
    )
    fees = ledger_for(LedgerRole.FEE_EXPENSE, "CNY")
    voucher = voucher_propose(
        business_date=D, memo="bank charge seen", acting_user=clerk, now=now,
        lines=[Line(fees, debit=Decimal("1.00")), Line(ledger_for(LedgerRole.SUSPENSE, "CNY"), credit=Decimal("1.00"))],
    )  # fmt: skip
    return {
        "channel": wx,
        "discrepancy": d,
        "statement": parsed_file(wx, D),
        "run": stored_run(wx, D),
        "txn": ours,
        "refund": refund,
        "voucher": voucher,
        "ledger": fees,
        "party": make_account(make_customer()),
        "filter": SavedFilter.objects.create(owner=clerk, name="mine", query="state=OPEN", created_at=now),
    }


def path_of(name: str, w: dict) -> str:
    journal = f"account={w['channel'].settlement_account_id}&date_from={D}&date_to={D}"
    paths = {
        "dashboard": "/",
        "reconciliation:statement_list": "/statements/",
        "reconciliation:statement_upload": "/statements/upload/",
        "reconciliation:statement_detail": f"/statements/{w['statement'].pk}/",
        "reconciliation:statement_progress": f"/statements/{w['statement'].pk}/progress/",
        "reconciliation:statement_replace": f"/statements/{w['statement'].pk}/replace/",
        "reconciliation:statement_parse_again": f"/statements/{w['statement'].pk}/parse-again/",
        "reconciliation:run_list": "/runs/",
        "reconciliation:run_request": "/runs/request/",
        "reconciliation:run_detail": f"/runs/{w['run'].pk}/",
        "reconciliation:run_progress": f"/runs/{w['run'].pk}/progress/",
        "reconciliation:clearing": "/clearing/",
        "reconciliation:fund_report": "/funds/",
        "reconciliation:bank_journal": "/books/bank-journal/",
        "reconciliation:discrepancy_list": "/discrepancies/",
        "reconciliation:discrepancy_bulk": "/discrepancies/bulk/",
        "reconciliation:discrepancy_pair": "/discrepancies/pair/",
        "reconciliation:discrepancy_detail": f"/discrepancies/{w['discrepancy'].pk}/",
        "reconciliation:approvals": "/approvals/",
        "reconciliation:saved_filter_save": "/filters/save/",
        "reconciliation:saved_filter_delete": f"/filters/{w['filter'].pk}/delete/",
        "exports:discrepancies": "/discrepancies/export.csv",
        "exports:audit": "/audit/export.csv",
        "exports:runs": "/runs/export.csv",
        "exports:clearing": f"/clearing/export.csv?channel={w['channel'].pk}&date={D}",
        "exports:bank_journal": f"/books/bank-journal/export.csv?{journal}",
        "books:trial_balance": "/books/",
        "books:ledger_account": f"/books/ledger/{w['ledger'].pk}/",
        "books:voucher_list": "/books/vouchers/",
        "books:voucher_new": "/books/vouchers/new/",
        "books:voucher_detail": f"/books/vouchers/{w['voucher'].pk}/",
        "books:party_account": f"/books/accounts/{w['party'].pk}/",
        "api-schema": "/api/schema/",
        "api-docs": "/docs/api/",
        "api-redoc": "/docs/api/redoc/",
        "api-root": "/api/",
        "api-discrepancy-propose": f"/api/discrepancies/{w['discrepancy'].pk}/propose/",
        "api-discrepancies-pair": "/api/discrepancies/pair/",
        "api-resolution-approve": f"/api/resolutions/{w['refund'].resolution_id}/approve/",
        "api-resolution-reject": f"/api/resolutions/{w['refund'].resolution_id}/reject/",
        "transaction-list": "/api/transactions/",
        "transaction-bulk": "/api/transactions/bulk/",
        "transaction-detail": f"/api/transactions/{w['txn'].txn_no}/",
        "statement-list": "/api/statements/",
        "statement-detail": f"/api/statements/{w['statement'].pk}/",
        "run-list": "/api/runs/",
        "run-detail": f"/api/runs/{w['run'].pk}/",
        "run-outcome": f"/api/runs/{w['run'].pk}/outcome/",
        "discrepancy-list": "/api/discrepancies/",
        "discrepancy-detail": f"/api/discrepancies/{w['discrepancy'].pk}/",
        "refund-order-list": "/api/refund-orders/",
        "refund-order-detail": f"/api/refund-orders/{w['refund'].pk}/",
        "refund-order-outcome": f"/api/refund-orders/{w['refund'].pk}/outcome/",
    }
    if name.startswith("reconciliation:discrepancy_act:"):
        return f"/discrepancies/{w['discrepancy'].pk}/{name.rsplit(':', 1)[1]}/"
    if name.startswith("books:voucher_decide:"):
        return f"/books/vouchers/{w['voucher'].pk}/{name.rsplit(':', 1)[1]}/"
    return paths[name]


def snapshot() -> tuple:
    """What a write may change: counts and states of everything the screens and the API write."""
    return (
        sorted(Discrepancy.objects.values_list("pk", "state", "assigned_to_id")),
        Resolution.objects.count(),
        WorkflowEvent.objects.count(),
        SavedFilter.objects.count(),
        sorted(Voucher.objects.values_list("pk", "status")),
        StatementFile.objects.count(),
        ReconciliationRun.objects.count(),
        PlatformTransaction.objects.count(),
        sorted(RefundOrder.objects.values_list("pk", "status")),
    )


def refused(role: str, path: str, response) -> bool:
    if role == ANON:
        if path.startswith("/api/"):
            return response.status_code in (401, 403)
        return response.status_code == 302 and "/login/" in response["Location"]
    return response.status_code == 403


CASES = [(name, method, role) for name, methods in MATRIX.items() for method in methods for role in ROLES]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "role"), CASES, ids=[f"{n}-{m}-{r}" for n, m, r in CASES])
def test_who_may_do_what(client, world, request, make_staff, name, method, role):
    fixture = {CLERK: "clerk", CHECKER: "checker", ADMIN: "admin_staff", AUDITOR: "auditor"}
    if role == ANON:
        person = None
    elif role in (CORE, USER_ADMIN):
        person = make_staff(role)
    else:
        person = request.getfixturevalue(fixture[role])
    path = path_of(name, world)
    headers = {}
    if role == CORE and path.startswith("/api/"):
        headers["HTTP_AUTHORIZATION"] = f"Token {api_key_for(person)}"
    elif person is not None:
        client.force_login(person)
    before = snapshot()
    response = client.generic(method, path, **headers) if method != "GET" else client.get(path, **headers)
    allowed = role in MATRIX[name][method]
    if allowed:
        assert not refused(role, path, response) and response.status_code < 500, (response.status_code, path)
    else:
        assert refused(role, path, response), (response.status_code, path)
        assert snapshot() == before, "a refused request changed the database"
