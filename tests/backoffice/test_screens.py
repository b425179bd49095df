"""Every screen renders for every role on the demo world, in both languages, without N+1 queries."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from reconciliation.models import Discrepancy, ReconciliationRun, StatementFile

ROLES = ("clerk", "checker", "admin", "auditor")


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--days", "3")


def screens():
    run = ReconciliationRun.objects.order_by("id").first()
    statement_file = StatementFile.objects.order_by("id").first()
    discrepancy = Discrepancy.objects.filter(type="STATUS_MISMATCH").order_by("id").first()
    return [
        reverse("dashboard"),
        reverse("reconciliation:statement_list"),
        reverse("reconciliation:statement_upload"),
        reverse("reconciliation:statement_detail", args=[statement_file.pk]),
        reverse("reconciliation:run_list"),
        reverse("reconciliation:run_detail", args=[run.pk]),
        reverse("reconciliation:discrepancy_list"),
        reverse("reconciliation:discrepancy_detail", args=[discrepancy.pk]),
        reverse("reconciliation:approvals"),
    ]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_every_screen_renders(client, demo, make_staff, role, language):
    client.force_login(make_staff(role))
    for url in screens():
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        # The upload screen is for those who may add files; the approvals screen for approvers.
        assert response.status_code in (200, 403), (url, response.status_code)
        if response.status_code == 200 and language == "zh-CN":
            assert "清分对账后台" in response.content.decode(), url


@pytest.mark.parametrize(
    "name",
    [
        "reconciliation:statement_list",
        "reconciliation:run_list",
        "reconciliation:discrepancy_list",
        "reconciliation:approvals",
        "dashboard",
    ],
)
def test_list_screens_have_a_bounded_number_of_queries(client, demo, checker, django_assert_max_num_queries, name):
    client.force_login(checker)
    with django_assert_max_num_queries(20):
        assert client.get(reverse(name)).status_code == 200
