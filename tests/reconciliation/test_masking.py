"""Personal data is declared once per model (PERSONAL_FIELDS) and masked the same way on the screens,
in the exports, in the admin and in the API for staff without the personal-data permission."""

import csv
import io
from decimal import Decimal

import pytest
from django.apps import apps
from helpers import stored_discrepancy, txn
from rest_framework.test import APIClient

from backoffice.core.masking import MASKERS, personal_fields

PAYEE = "6222021234567890"
MASKED = "************7890"
# Field names that always hold personal data, wherever a model has them.
PERSONAL_NAMES = {"id_number", "phone", "email", "account_no", "counterparty_account", "counterparty_name"}


def test_every_personal_field_is_declared_with_a_known_mask():
    undeclared = []
    for model in apps.get_models():
        if model._meta.app_label not in ("accounts", "reconciliation") or model.__name__.endswith("Event"):
            continue
        declared = personal_fields(model)
        assert set(declared.values()) <= set(MASKERS), model
        undeclared += [
            f"{model._meta.label}.{f.name}"
            for f in model._meta.concrete_fields
            if f.name in PERSONAL_NAMES and f.name not in declared
        ]
    assert not undeclared, "declare in the model's PERSONAL_FIELDS: " + ", ".join(undeclared)


@pytest.fixture
def paid_twice(channel):
    payout = txn(channel, "P-1", "1500.00", business_type="PAYOUT", counterparty_account=PAYEE, counterparty_name="王五")
    stored_discrepancy(channel, "-1500.00", type="DOUBLE_PAYMENT_RISK", platform_txn=payout, platform_amount=payout.amount)
    return payout


def api_get(user, url):
    client = APIClient()
    client.force_authenticate(user)
    response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["clerk", "checker", "auditor"])
def test_staff_without_the_permission_see_the_account_masked_everywhere(request, client, paid_twice, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    discrepancy = paid_twice.discrepancies.get()
    screen = client.get(f"/discrepancies/{discrepancy.pk}/").content.decode()
    assert PAYEE not in screen and MASKED in screen and "王五" not in screen and "王*" in screen
    export = b"".join(client.get("/discrepancies/export.csv").streaming_content).decode("utf-8-sig")
    assert PAYEE not in export and MASKED in [row[-1] for row in csv.reader(io.StringIO(export))]
    admin_page = client.get(f"/admin/reconciliation/platformtransaction/{paid_twice.pk}/change/")
    assert admin_page.status_code == 200 and PAYEE not in admin_page.content.decode()
    one = api_get(user, "/api/transactions/P-1/")
    assert (one["counterparty_account"], one["counterparty_name"]) == (MASKED, "王*")  # as on the screen
    listed = api_get(user, "/api/transactions/")["results"]
    assert [(item["counterparty_account"], item["counterparty_name"]) for item in listed] == [(MASKED, "王*")]


@pytest.mark.django_db
def test_the_admin_role_holds_the_permission_and_sees_it_whole(client, admin_staff, paid_twice):
    client.force_login(admin_staff)
    discrepancy = paid_twice.discrepancies.get()
    assert PAYEE in client.get(f"/discrepancies/{discrepancy.pk}/").content.decode()
    assert api_get(admin_staff, "/api/transactions/P-1/")["counterparty_account"] == PAYEE
    assert api_get(admin_staff, "/api/transactions/P-1/")["counterparty_name"] == "王五"


def test_spreadsheet_cells_that_a_program_would_read_as_a_formula_are_neutralised():
    from backoffice.core.spreadsheets import neutralise_cell

    for cell in ("=1+1", " =1+1", "\u3000@SUM(A1)", "＝HYPERLINK()", "＋1", " -2"):
        assert neutralise_cell(cell) == "'" + cell, cell
    for cell in ("王五", "1,000.00", "a=b", Decimal("-3.00")):
        assert neutralise_cell(cell) == cell
