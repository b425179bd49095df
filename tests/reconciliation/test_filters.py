"""One FilterSet per list: the screen, its export and the API narrow and order a list the same way."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from helpers import D, local_dt, stored_discrepancy, stored_run
from rest_framework.test import APIClient

from reconciliation.api import views as api
from reconciliation.filters import DiscrepancyFilter, RefundOrderFilter, RunFilter, StatementFileFilter, TransactionFilter
from reconciliation.models import RunFinding
from reconciliation.selectors.discrepancies import discrepancy_queue

TODAY = D + timedelta(days=10)


@pytest.fixture
def queue(make_channel):
    wx, ali = make_channel("WX"), make_channel("ALI")
    return {
        "old_over": stored_discrepancy(wx, "12.30", day=D - timedelta(days=8), type="BANK_ONLY"),
        "short": stored_discrepancy(wx, "-1500.00"),
        "resolved": stored_discrepancy(
            wx, "3.00", state="RESOLVED", resolved_at=local_dt(2026, 11, 24, 18, 0), closed_as="WRITTEN_OFF"
        ),
        "carried": stored_discrepancy(wx, "-0.50", state="CARRIED_OVER", carry_until=D + timedelta(days=2)),
        "other_channel": stored_discrepancy(ali, "7.00"),
    }


def ids(found) -> list[int]:
    return [d.pk for d in found]


def screen_ids(client, user, params: dict) -> list[int]:
    client.force_login(user)
    response = client.get("/discrepancies/", params)
    assert response.status_code == 200
    return [d.pk for d in response.context["page"].object_list]


def export_ids(client, params: dict) -> list[int]:
    response = client.get("/discrepancies/export.csv", params)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    return [int(row[0]) for row in rows[1:]]


def api_ids(user, params: dict) -> list[int]:
    api_client = APIClient()
    api_client.force_authenticate(user)
    response = api_client.get("/api/discrepancies/", params)
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, ["other_channel", "carried", "resolved", "short", "old_over"]),
        ({"state": "UNRESOLVED", "sort": "-abs"}, ["short", "old_over", "other_channel", "carried"]),
        ({"channel": "WX", "direction": "SHORTAGE", "sort": "date"}, ["short", "carried"]),
        ({"amount_min": "1", "amount_max": "100", "sort": "abs"}, ["resolved", "other_channel", "old_over"]),
        ({"age_min": "15", "type": "BANK_ONLY"}, ["old_over"]),
        (
            {"date_from": (D - timedelta(days=1)).isoformat(), "date_to": D.isoformat(), "state": "OPEN"},
            ["other_channel", "short"],
        ),
    ],
)
def test_screen_export_and_api_give_the_same_list(client, queue, clerk, params, expected, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: TODAY)
    names = {d.pk: name for name, d in queue.items()}
    by_selector = [names[pk] for pk in ids(discrepancy_queue(params=params, today=TODAY).qs)]
    # The same order everywhere (ties on the sort key are broken by id in the direction of the sort).
    assert by_selector == expected
    assert [names[pk] for pk in screen_ids(client, clerk, params)] == expected
    assert [names[pk] for pk in export_ids(client, params)] == expected
    assert [names[pk] for pk in api_ids(clerk, params)] == expected


@pytest.mark.django_db
def test_a_channel_is_given_by_code_or_by_id(queue):
    wx = queue["short"].channel
    by_code = ids(discrepancy_queue(params={"channel": "wx"}, today=TODAY).qs)
    by_id = ids(discrepancy_queue(params={"channel": str(wx.pk)}, today=TODAY).qs)
    assert by_code == by_id and len(by_code) == 4
    unknown = discrepancy_queue(params={"channel": "NOPE"}, today=TODAY)
    assert not unknown.is_valid() and "NOPE" in str(unknown.form.errors["channel"])


@pytest.mark.django_db
def test_run_means_what_the_run_concluded_about(queue):
    # A run's list is its findings (RunFinding), not the discrepancies' own run columns.
    carried, short = queue["carried"], queue["short"]
    later = stored_run(carried.channel, D + timedelta(days=1))
    RunFinding.objects.create(run=carried.run, discrepancy=carried, change="FOUND")
    RunFinding.objects.create(run=later, discrepancy=carried, change="CLOSED")
    RunFinding.objects.create(run=later, discrepancy=short, change="CONFIRMED")
    assert ids(discrepancy_queue(params={"run": later.pk}, today=TODAY).qs) == [carried.pk, short.pk]  # newest first
    assert ids(discrepancy_queue(params={"run": later.pk, "finding": "closed"}, today=TODAY).qs) == [carried.pk]
    assert ids(discrepancy_queue(params={"run": later.pk, "finding": "found"}, today=TODAY).qs) == [short.pk]
    assert ids(discrepancy_queue(params={"run": carried.run_id}, today=TODAY).qs) == [carried.pk]
    assert ids(discrepancy_queue(params={"run": short.run_id}, today=TODAY).qs) == []  # stored without a finding


@pytest.mark.django_db
def test_invalid_filters_are_refused_by_the_export_and_the_api(client, queue, clerk):
    client.force_login(clerk)
    response = client.get("/discrepancies/export.csv", {"amount_min": "lots"})
    assert response.status_code == 400 and "amount_min" in response.content.decode()
    api_client = APIClient()
    api_client.force_authenticate(clerk)
    assert api_client.get("/api/discrepancies/", {"state": "SOMETIMES"}).status_code == 400


def test_every_api_list_filters_with_the_shared_filtersets():
    assert api.DiscrepancyViewSet.filterset_class is DiscrepancyFilter
    assert api.RunViewSet.filterset_class is RunFilter
    assert api.StatementFileViewSet.filterset_class is StatementFileFilter
    assert api.TransactionViewSet.filterset_class is TransactionFilter
    assert api.RefundOrderViewSet.filterset_class is RefundOrderFilter


@pytest.mark.django_db
def test_hidden_api_parameters_stay_out_of_the_screen_form(client, clerk):
    client.force_login(clerk)
    html = client.get("/discrepancies/").content.decode()
    for name in ("business_date_from", "business_date_to", "business_date", "sort", "run"):
        assert f'name="{name}"' not in html
    assert 'name="amount_min"' in html and 'name="date_from"' in html
    html = client.get("/discrepancies/", {"sort": "type", "run": "7"}).content.decode()
    assert 'type="hidden" name="sort" value="type"' in html and 'type="hidden" name="run" value="7"' in html


@pytest.mark.django_db
def test_amounts_filter_on_the_size_of_the_effect(queue):
    found = ids(discrepancy_queue(params={"amount_min": "1000"}, today=TODAY).qs)
    assert found == [queue["short"].pk]
    assert Decimal(queue["short"].effect) < 0
