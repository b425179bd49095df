"""The payment core's API: token auth, bulk upsert with the service's rules, statements in, schema out."""

import io
import json
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from helpers import api_key_for, wechat_bill, wechat_rows
from rest_framework.test import APIClient

from reconciliation.models import PlatformTransaction, StatementFile, StatementLine, TransactionConflict


@pytest.fixture
def core(db):
    user = get_user_model().objects.create_user(username="core")
    user.groups.add(Group.objects.get(name="payment_core"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(user)}")
    return client


def item(**overrides):
    return {
        "txn_no": "P1",
        "channel": "TESTCH",
        "business_type": "collection",
        "amount": "100.00",
        "currency": "CNY",
        "status": "processing",
        "created_at": "2026-11-24T10:00:00+08:00",
        "business_date": "2026-11-24",
        **overrides,
    }


def post_bulk(client, *items):
    return client.post("/api/transactions/bulk/", json.dumps({"transactions": list(items)}), content_type="application/json")


@pytest.mark.django_db
def test_no_token_no_access(channel):
    assert APIClient().post("/api/transactions/bulk/", {}, format="json").status_code == 401


@pytest.mark.django_db
def test_clerk_token_cannot_push_transactions(channel, clerk):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(clerk)}")
    assert post_bulk(client, item()).status_code == 403


@pytest.mark.django_db
def test_bulk_upsert_is_idempotent_and_json_numbers_stay_exact(core, channel):
    first = post_bulk(core, item(amount=100.1))  # a JSON number: read as Decimal("100.1"), not a float
    assert first.status_code == 200 and first.json() == {"created": 1, "updated": 0, "unchanged": 0, "held": 0}
    assert PlatformTransaction.objects.get().amount == Decimal("100.1")
    again = post_bulk(core, item(amount="100.10"))
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 1, "held": 0}
    forward = post_bulk(core, item(amount="100.10", status="success", channel_txn_no="4200"))
    assert forward.json()["updated"] == 1


@pytest.mark.django_db
def test_conflict_is_409_recorded_with_the_sender(core, channel):
    post_bulk(core, item(status="success"))
    response = post_bulk(core, item(status="failed"))
    assert response.status_code == 409
    body = response.json()
    assert body["errors"][0]["field"] == "status" and "SUCCESS to FAILED" in body["errors"][0]["reason"]
    conflict = TransactionConflict.objects.get()
    assert (conflict.source, conflict.received_by.username) == ("API", "core")


@pytest.mark.django_db
def test_invalid_items_are_400_listing_each_field(core, channel):
    response = post_bulk(core, item(), item(txn_no="P2", amount="-1"), item(txn_no="P3", channel="NOPE"))
    assert response.status_code == 400
    assert [(e["ref"], e["field"]) for e in response.json()["errors"]] == [("item 2", "amount"), ("item 3", "channel")]
    assert not PlatformTransaction.objects.exists()


@pytest.mark.django_db
def test_filtered_listing(core, channel):
    post_bulk(core, item(), item(txn_no="P2", status="success"), item(txn_no="P3", business_date="2026-11-23"))
    listed = core.get("/api/transactions/", {"channel": "TESTCH", "business_date": "2026-11-24", "status": "PROCESSING"})
    assert [t["txn_no"] for t in listed.json()["results"]] == ["P1"]
    assert core.get("/api/transactions/P2/").json()["status"] == "SUCCESS"


@pytest.mark.django_db
def test_statement_upload_through_the_api(core, channel, django_capture_on_commit_callbacks):
    upload = io.BytesIO(wechat_bill(wechat_rows(3)))
    upload.name = "wx.csv"
    with django_capture_on_commit_callbacks(execute=True):
        response = core.post("/api/statements/", {"file": upload, "channel": "TESTCH"}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    # Tests run Celery eagerly: the parse task ran on commit.
    statement_file = StatementFile.objects.get(pk=body["id"])
    assert statement_file.status == "PARSED" and StatementLine.objects.count() == 3
    assert core.get(f"/api/statements/{body['id']}/").json()["line_count"] == 3

    upload.seek(0)
    again = core.post("/api/statements/", {"file": upload, "channel": "TESTCH"}, format="multipart")
    assert again.status_code == 400 and again.json()["duplicate_of"] == body["id"]


@pytest.mark.django_db
def test_openapi_schema_documents_the_endpoints(core):
    schema = core.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert "/api/transactions/bulk/" in schema["paths"]
    assert "/api/statements/" in schema["paths"]


@pytest.mark.django_db
def test_runs_requested_through_the_api(core, channel, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = core.post("/api/runs/", {"channel": "TESTCH", "business_date": "2026-11-24"}, format="json")
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    outcome = core.get(f"/api/runs/{run_id}/outcome/").json()
    assert outcome["status"] == "SUCCEEDED" and outcome["counts"] == {}
    assert core.get("/api/discrepancies/", {"channel": "TESTCH"}).json()["results"] == []


@pytest.mark.django_db
def test_a_second_request_while_a_run_is_active_is_409(core, channel):
    first = core.post("/api/runs/", {"channel": "TESTCH", "business_date": "2026-11-24"}, format="json")
    assert first.status_code == 202  # not executed: the request's commit never happens in this test
    second = core.post("/api/runs/", {"channel": "TESTCH", "business_date": "2026-11-24"}, format="json")
    assert second.status_code == 409 and second.json()["run_id"] == first.json()["id"]
