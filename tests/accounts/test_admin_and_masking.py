"""Admin screens of the parties: masking of personal data, imports with per-row errors, exports."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import Account, Customer, Merchant
from backoffice.core.masking import mask_account_number, mask_email, mask_id_number, mask_phone

ID_NUMBER = "110105198503122819"
PHONE = "13812345678"


def test_maskers():
    assert mask_id_number(ID_NUMBER) == "1101**********2819"
    assert mask_id_number("E1234567") == "E******7"
    assert mask_phone(PHONE) == "138****5678"
    assert mask_email("zhang.wei@example.cn") == "z*******i@example.cn"
    assert mask_account_number("6222021234567890") == "************7890"
    assert mask_phone("") == ""


@pytest.fixture
def person(make_customer, make_customer_user, make_account):
    customer = make_customer(Customer.Kind.INDIVIDUAL, id_type=Customer.IdType.RESIDENT_ID, id_number=ID_NUMBER)
    make_customer_user(customer, phone=PHONE)
    make_account(customer, account_no="W99887766554433")
    return customer


@pytest.mark.django_db
def test_clerk_sees_masked_personal_data_on_every_admin_screen(client, clerk, person):
    client.force_login(clerk)
    pages = [
        reverse("admin:accounts_customer_changelist"),
        reverse("admin:accounts_customer_change", args=[person.pk]),
        reverse("admin:accounts_customeruser_changelist"),
        reverse("admin:accounts_account_changelist"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert ID_NUMBER not in html and PHONE not in html and "W99887766554433" not in html, url
    customer_page = client.get(pages[1]).content.decode()
    assert "1101**********2819" in customer_page and "138****5678" in customer_page


@pytest.mark.django_db
def test_admin_with_permission_sees_and_edits_the_raw_value(client, admin_staff, person):
    assert admin_staff.has_perm("accounts.view_personal_data")
    client.force_login(admin_staff)
    html = client.get(reverse("admin:accounts_customer_change", args=[person.pk])).content.decode()
    assert f'value="{ID_NUMBER}"' in html


@pytest.mark.django_db
def test_export_masks_for_staff_without_the_permission(client, clerk, admin_staff, person):
    url = reverse("admin:accounts_customer_export")

    def export_as(user):
        client.force_login(user)
        response = client.post(
            url,
            {
                "format": "0",
                "resource": "0",
                "customerresource_id_number": "on",
                "customerresource_customer_no": "on",
                "customerresource_name": "on",
            },
        )
        assert response.status_code == 200
        return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))

    clerk.user_permissions.add(Permission.objects.get(codename="view_customer"))
    masked_rows = export_as(clerk)
    raw_rows = export_as(admin_staff)
    assert masked_rows[0]["id_number"] == "1101**********2819"
    assert raw_rows[0]["id_number"] == ID_NUMBER


def _import_csv(client, url_name: str, text: str):
    upload = io.BytesIO(text.encode("utf-8"))
    upload.name = "import.csv"
    return client.post(reverse(url_name), {"format": "0", "resource": "0", "import_file": upload})


@pytest.mark.django_db
def test_customer_import_shows_per_row_field_errors_and_saves_nothing(client, admin_staff):
    client.force_login(admin_staff)
    text = (
        "customer_no,kind,name,id_type,id_number,credit_code,legal_representative,verification_status\n"
        "C1,INDIVIDUAL,好人,RESIDENT_ID,110105198503122819,,,VERIFIED\n"
        "C2,INDIVIDUAL,坏号,RESIDENT_ID,110105198503122810,,,VERIFIED\n"
        "C3,ENTERPRISE,缺代码公司,,,,,UNVERIFIED\n"
    )
    response = _import_csv(client, "admin:accounts_customer_import", text)
    html = response.content.decode()
    assert response.status_code == 200
    assert "check digit" in html  # row 2, id_number
    assert "Required for an enterprise customer" in html  # row 3, credit_code / legal_representative
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_customer_import_preview_then_confirm_saves(client, admin_staff):
    client.force_login(admin_staff)
    text = (
        "customer_no,kind,name,id_type,id_number,credit_code,legal_representative,verification_status\n"
        "C1,INDIVIDUAL,好人,RESIDENT_ID,110105198503122819,,,VERIFIED\n"
        "C2,ENTERPRISE,好公司,,,91350100M000100Y43,林某,UNVERIFIED\n"
    )
    preview = _import_csv(client, "admin:accounts_customer_import", text)
    assert Customer.objects.count() == 0  # the preview is a dry run
    confirm_form = preview.context["confirm_form"]
    response = client.post(reverse("admin:accounts_customer_process_import"), confirm_form.initial)
    assert response.status_code == 302
    assert set(Customer.objects.values_list("customer_no", flat=True)) == {"C1", "C2"}


@pytest.mark.django_db
def test_merchant_and_account_import_refers_to_customers_by_number(client, admin_staff, make_customer):
    customer = make_customer()
    client.force_login(admin_staff)
    accounts = (
        f"account_no,customer_no,kind,currency,status\nS1,{customer.customer_no},SETTLEMENT,CNY,ACTIVE\n"
        "S2,NOPE,WALLET,CNY,ACTIVE\n"
    )
    response = _import_csv(client, "admin:accounts_account_import", accounts)
    assert "No customer with customer_no &#x27;NOPE&#x27;" in response.content.decode()
    assert Account.objects.count() == 0

    good = f"account_no,customer_no,kind,currency,status\nS1,{customer.customer_no},SETTLEMENT,CNY,ACTIVE\n"
    preview = _import_csv(client, "admin:accounts_account_import", good)
    client.post(reverse("admin:accounts_account_process_import"), preview.context["confirm_form"].initial)
    merchants = f"merchant_no,customer_no,name,mcc,status,settlement_account_no\nM1,{customer.customer_no},小店,54x1,ACTIVE,S1\n"
    response = _import_csv(client, "admin:accounts_merchant_import", merchants)
    assert "4 digits" in response.content.decode()
    assert Merchant.objects.count() == 0


@pytest.mark.django_db
def test_bad_input_in_the_admin_form_gives_field_errors_and_saves_nothing(client, admin_staff):
    client.force_login(admin_staff)
    response = client.post(
        reverse("admin:accounts_customer_add"),
        {
            "customer_no": "C9",
            "kind": "INDIVIDUAL",
            "name": "某人",
            "id_type": "RESIDENT_ID",
            "id_number": "110105198503122810",
            "verification_status": "UNVERIFIED",
            "users-TOTAL_FORMS": "0",
            "users-INITIAL_FORMS": "0",
            "merchants-TOTAL_FORMS": "0",
            "merchants-INITIAL_FORMS": "0",
            "accounts-TOTAL_FORMS": "0",
            "accounts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "check digit" in response.context["adminform"].form.errors["id_number"][0]
    assert not Customer.objects.exists()
