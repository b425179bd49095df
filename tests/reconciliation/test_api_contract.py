"""The API's published contract holds: the schema says what the server does (nullable fields, the upload
as multipart with a binary file, the error answers), errors are JSON, parameters are strict, and a run's
business date is bounded by today and by the channel's first fee model."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from helpers import D, api_key_for, local_dt
from rest_framework.test import APIClient

from backoffice.core.roles import CLERK


@pytest.fixture
def core(make_staff):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(make_staff('payment_core'))}")
    return client


@pytest.fixture
def schema(core):
    return core.get("/api/schema/", {"format": "json"}).json()


def _component(schema, name):
    return schema["components"]["schemas"][name]


def _nullable(prop) -> bool:
    return prop.get("nullable") is True or any(p.get("type") == "null" for p in prop.get("anyOf", []))


@pytest.mark.django_db
def test_foreign_keys_that_may_be_empty_are_nullable_in_the_schema(schema):
    assert _nullable(_component(schema, "Run")["properties"]["started_by"])
    assert _nullable(_component(schema, "StatementFile")["properties"]["uploaded_by"])
    for name in ("fee", "completed_at"):
        assert _nullable(_component(schema, "PlatformTransaction")["properties"][name]), name
    summary = _component(schema, "DiscrepancySummary")["properties"]
    assert _nullable(summary["platform_amount"]) and _nullable(summary["direction"])


@pytest.mark.django_db
def test_the_statement_upload_is_multipart_with_a_binary_file(schema):
    body = schema["paths"]["/api/statements/"]["post"]["requestBody"]
    assert list(body["content"]) == ["multipart/form-data"]
    upload = body["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    component = _component(schema, upload)
    assert component["properties"]["file"]["format"] == "binary"
    assert set(component["required"]) == {"file", "channel"}
    answers = schema["paths"]["/api/statements/"]["post"]["responses"]
    assert {"201", "400", "401", "403", "413", "415"} <= set(answers)


@pytest.mark.django_db
def test_every_operation_documents_its_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if method == "post":
                assert "400" in codes, (method, path)
    assert "409" in schema["paths"]["/api/transactions/bulk/"]["post"]["responses"]
    assert "409" in schema["paths"]["/api/runs/"]["post"]["responses"]
    assert "409" in schema["paths"]["/api/resolutions/{id}/approve/"]["post"]["responses"]


@pytest.mark.django_db
def test_required_text_is_documented_as_non_blank(schema):
    reason = _component(schema, "Propose")["properties"]["reason"]
    assert reason["minLength"] == 1 and reason["pattern"] == r"\S"


@pytest.mark.django_db
def test_not_found_and_wrong_method_are_json_under_api(core):
    for response in (core.get("/api/no-such-thing/"), core.get("/api/runs/999999/"), core.delete("/api/runs/")):
        assert response["Content-Type"].startswith("application/json"), response.status_code
        assert "detail" in response.json()
    assert core.get("/api/no-such-thing/").status_code == 404
    assert core.put("/api/runs/").status_code in (403, 405)


@pytest.mark.django_db
def test_a_server_error_under_api_is_json(core, monkeypatch):
    from reconciliation.api import views

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.RunViewSet, "list", broken)
    core.raise_request_exception = False
    response = core.get("/api/runs/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json") and "detail" in response.json()


@pytest.mark.django_db
def test_screens_keep_their_html_not_found_page(client, clerk):
    client.force_login(clerk)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"stauts": "PENDING"}, "stauts"),  # a typo answers 400, never every row
        ({"status": "NOPE"}, "status"),
        ({"status": ""}, "status"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ],
)
def test_invalid_or_unknown_list_parameters_are_400_naming_them(core, query, field):
    response = core.get("/api/refund-orders/", query)
    assert response.status_code == 400 and field in response.json(), response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        {"run": str(2**64)},
        {"age_min": "99999999"},
        {"amount_min": "1e999999"},
        {"amount_min": "1.00001"},
        {"channel": "WX\x00"},
        {"date_from": "2026-02-30"},
    ],
)
def test_out_of_range_filter_values_are_400_not_500(core, wx, query):
    response = core.get("/api/discrepancies/", query)
    assert response.status_code == 400 and set(query) <= set(response.json()), response.content


@pytest.mark.django_db
def test_known_parameters_still_filter(core, wx):
    assert core.get("/api/discrepancies/", {"channel": "WX", "state": "UNRESOLVED", "limit": "5"}).status_code == 200
    assert core.get("/api/runs/", {"format": "json"}).status_code == 200


@pytest.mark.django_db
def test_a_detail_url_takes_no_filter(core, wx):
    from helpers import stored_run

    run = stored_run(wx, D)
    assert core.get(f"/api/runs/{run.pk}/").status_code == 200
    assert core.get(f"/api/runs/{run.pk}/", {"status": "FAILED"}).status_code == 400


def _request_run(client, channel, day):
    return client.post("/api/runs/", {"channel": channel.code, "business_date": day.isoformat()}, format="json")


@pytest.mark.django_db
def test_a_run_in_the_future_is_refused(core, wx):
    response = _request_run(core, wx, timezone.localdate() + timedelta(days=1))
    assert response.status_code == 400 and "business_date" in response.json()


@pytest.mark.django_db
def test_a_run_before_the_channel_existed_is_refused(core, wx):
    # wx's fee models take effect on 2025-01-01 (tests/conftest.py).
    response = _request_run(core, wx, local_dt(2024, 12, 31).date())
    assert response.status_code == 400
    assert "2025-01-01" in response.json()["business_date"][0]
    assert _request_run(core, wx, local_dt(2025, 1, 1).date()).status_code == 202


@pytest.mark.django_db
def test_a_channel_without_a_fee_model_is_bounded_by_ten_years_only(core, channel):
    assert _request_run(core, channel, timezone.localdate() - timedelta(days=3000)).status_code == 202
    assert _request_run(core, channel, timezone.localdate() - timedelta(days=4000)).status_code == 400


@pytest.mark.django_db
def test_bulk_items_are_refused_by_shape_naming_item_and_field(core, channel):
    item = {
        "txn_no": "P1", "channel": "TESTCH", "business_type": "collection", "amount": "1.00", "currency": "CNY",
        "status": "processing", "created_at": "2026-11-24T10:00:00+08:00", "business_date": "2026-11-24",
    }  # fmt: skip
    bad = [
        {**item, "txn_no": "X" * 65},
        {**item, "txn_no": "P3", "amount": "1234567890123456"},
        {**item, "txn_no": "P4", "amount": "1.00001"},
        {**item, "txn_no": "P5", "chanel_txn_no": "typo"},
        {**item, "txn_no": "P6", "created_at": "0001-01-01T00:00:00+08:00"},
    ]
    response = core.post("/api/transactions/bulk/", json.dumps({"transactions": bad}), content_type="application/json")
    assert response.status_code == 400, response.content
    named = [(e["ref"], e["field"]) for e in response.json()["errors"]]
    assert named == [
        ("item 1", "txn_no"), ("item 2", "amount"), ("item 3", "amount"), ("item 4", "chanel_txn_no"), ("item 5", "created_at"),
    ]  # fmt: skip


@pytest.mark.django_db
def test_an_upload_over_the_limit_is_413_json(make_staff):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(make_staff(CLERK))}")
    from django.core.files.uploadedfile import SimpleUploadedFile

    with override_settings(STATEMENT_MAX_BYTES=10):
        response = client.post(
            "/api/statements/", {"file": SimpleUploadedFile("x.csv", b"0" * 100), "channel": "X"}, format="multipart"
        )
    assert response.status_code == 413 and "detail" in response.json()
