"""The API against its own published schema: Schemathesis generates requests from /api/schema/ (as the
server serves it, through the WSGI application: no socket, the test's database transaction) for every
operation, as every role, with every check on: no 5xx, every answer documented (status, content type,
body), valid data accepted, invalid data refused, and no write succeeding for a role that may not write
(the roles are tests/backoffice/test_permission_matrix.py's MATRIX, read from there so the two never
disagree).

Bounded so the whole file runs in a few minutes on a 2-core machine: a few examples per operation and
role, the coverage phase's boundary values, no stateful phase (the world below gives the links data)."""

from __future__ import annotations

import importlib.util
import re
from decimal import Decimal
from pathlib import Path

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.urls import Resolver404, resolve
from django.utils import timezone
from helpers import D, api_key_for, parsed_file, stored_discrepancy, stored_run, txn
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from reconciliation.models import Action, RefundOrder, Resolution


def _load_matrix() -> dict[str, dict[str, set[str]]]:
    path = Path(__file__).resolve().parents[1] / "backoffice" / "test_permission_matrix.py"
    spec = importlib.util.spec_from_file_location("permission_matrix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MATRIX


MATRIX = _load_matrix()
ROLES = ("clerk", "checker", "admin", "auditor", "payment_core", "user_admin")
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
# Examples per operation and role in the fuzzing phase; the coverage phase adds each parameter's
# boundary and invalid values on top. Raise it locally to search harder.
MAX_EXAMPLES = 3

# Writes whose rules depend on what is stored (a discrepancy's state, a statement file's content, a
# refund order's status, a journal record against the one we hold): a request the schema calls valid may
# still be refused with 400, naming why. Everywhere else a schema-valid request must be accepted.
STATEFUL_WRITES = [
    "/api/transactions/bulk/",
    "/api/statements/",
    "/api/discrepancies/{id}/propose/",
    "/api/discrepancies/pair/",
    "/api/resolutions/{id}/approve/",
    "/api/resolutions/{id}/reject/",
    "/api/refund-orders/{id}/outcome/",
]
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": True},
        "operations": [
            {
                "include-path": STATEFUL_WRITES,
                "include-method": "POST",
                "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "409"]}},
            }
        ],
    }
)


@pytest.fixture(autouse=True)
def _schemathesis_node_id(request):
    """Schemathesis 4.32's lazy loader renames the test node for its report through ``_nodeid``, which
    pytest 9.2 no longer has (the id is ``_id``): give it the attribute it reads."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture(params=ROLES)
def role(request):
    return request.param


@pytest.fixture
def world(wx, clerk):
    """Something of everything the API reads and writes, so generated ids sometimes find data."""
    now = timezone.now()
    ours = txn(wx, "T-1", "10.00")
    resolution = Resolution.objects.create(
        discrepancy=stored_discrepancy(wx, "-3.00", platform_txn=ours, type="PLATFORM_ONLY"), action=Action.REFUND,
        status=Resolution.Status.EXECUTED, reason="refund it", amount=Decimal("3.00"), currency="CNY", proposed_by=clerk,
        proposed_at=now, decided_at=now, executed_at=now,
    )  # fmt: skip
    refund = RefundOrder.objects.create(
        resolution=resolution, refund_no="RF-1", original_txn=ours, amount=Decimal("3.00"), currency="CNY", created_at=now
    )
    return {
        "channel": wx,
        "discrepancy": stored_discrepancy(wx, "10.00"),
        "statement": parsed_file(wx, D),
        "run": stored_run(wx, D),
        "txn": ours,
        "refund": refund,
        "resolution": resolution,
    }


@pytest.fixture
def wsgi_app():
    """The project's WSGI application on the test's own database connection: as Django's test client
    does, the connection is not closed at the end of each request (it holds the test's transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(world, role, make_staff, wsgi_app):
    key = api_key_for(make_staff(role))
    headers = {"Authorization": f"Token {key}"}
    loaded = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, config=CONFIG, headers=headers)
    loaded.config.headers = headers
    code = world["channel"].code

    @loaded.hook
    def map_case(context, case):
        # A channel is named by a code the schema cannot enumerate (they are data): a valid request names
        # one that exists, and a run's date one the channel can be reconciled for. Invalid requests keep
        # what was generated.
        if case.meta is None or not case.meta.generation.mode.is_positive:
            return case
        if isinstance(case.query, dict) and "channel" in case.query:
            case.query["channel"] = code
        if isinstance(case.body, dict):
            if "channel" in case.body:
                case.body["channel"] = code
            if "business_date" in case.body and case.path == "/api/runs/":
                case.body["business_date"] = D.isoformat()
            for item in case.body.get("transactions") or []:
                if isinstance(item, dict) and "channel" in item:
                    item["channel"] = code
        return case

    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_keeps_its_contract(case, role):
    response = case.call_and_validate()
    method = case.method.upper()
    if method in READ_METHODS:
        return
    # The URL's name from the operation's template (a generated id may not even resolve).
    methods = MATRIX[resolve(re.sub(r"\{[^}]+\}", "1", case.operation.path)).url_name]
    if method not in methods:  # a method the URL does not have (the coverage phase tries them): never done
        assert response.status_code >= 400, (role, method, case.formatted_path, response.status_code)
    elif role not in methods[method]:
        try:
            resolve(case.formatted_path)
        except Resolver404:  # not this URL at all (an id that is not a number): nothing to refuse
            assert response.status_code == 404, (role, method, case.formatted_path, response.status_code)
        else:  # refused before the request is even read, whatever it carries
            assert response.status_code == 403, (role, method, case.formatted_path, response.status_code, response.text[:300])
