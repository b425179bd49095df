"""Login everywhere, the four roles, and what each may do."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from backoffice.core.roles import ADMIN, AUDITOR, CHECKER, CLERK


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/admin/", "/docs/api/", "/admin/reconciliation/channel/"])
def test_every_page_but_login_needs_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.django_db
def test_login_page_and_language_switch_are_open(client):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("set_language"), {"language": "en", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert "Log in" in client.get(reverse("login")).content.decode()


@pytest.mark.django_db
def test_api_answers_401_instead_of_redirecting(client):
    response = client.get("/api/schema/")
    assert response.status_code in (401, 403)


@pytest.mark.django_db
def test_api_schema_for_a_token_holder(client, clerk):
    from helpers import api_key_for

    response = client.get("/api/schema/", HTTP_AUTHORIZATION=f"Token {api_key_for(clerk)}")
    assert response.status_code == 200
    assert b"openapi" in response.content


@pytest.mark.django_db
def test_the_four_groups_exist_with_their_permissions():
    groups = {g.name: set(g.permissions.values_list("content_type__app_label", "codename")) for g in Group.objects.all()}
    assert {CLERK, CHECKER, ADMIN, AUDITOR} <= set(groups)
    assert ("reconciliation", "view_channel") in groups[CLERK]
    assert ("reconciliation", "change_channel") not in groups[CLERK]
    assert ("reconciliation", "change_feemodel") in groups[ADMIN]
    assert ("accounts", "view_personal_data") in groups[ADMIN]
    for role in (CLERK, CHECKER, AUDITOR):
        assert ("accounts", "view_personal_data") not in groups[role]
    # The auditor reads everything and changes nothing.
    assert all(codename.startswith("view_") for _app, codename in groups[AUDITOR])
    assert ("backoffice", "view_auditevent") in groups[AUDITOR]
    # Nobody may rewrite the audit trail.
    for perms in groups.values():
        assert not any(c.endswith("event") and not c.startswith("view_") for _a, c in perms)


@pytest.mark.django_db
def test_clerk_reads_configuration_but_cannot_change_it(client, clerk, channel):
    client.force_login(clerk)
    change_url = reverse("admin:reconciliation_channel_change", args=[channel.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert 'name="code"' not in page.content.decode()  # read-only view
    response = client.post(change_url, {"code": "HACKED", "name": "x"})
    assert response.status_code == 403
    channel.refresh_from_db()
    assert channel.code == "TESTCH"
    assert client.get(reverse("admin:reconciliation_feemodel_add")).status_code == 403


@pytest.mark.django_db
def test_auditor_reads_the_audit_trail(client, auditor, admin_staff, channel):
    # A change by the admin through the admin site is recorded with who made it.
    client.force_login(admin_staff)
    client.post(
        reverse("admin:reconciliation_bank_change", args=[channel.bank.pk]),
        {"code": channel.bank.code, "name": "改名银行", "is_active": "on"},
    )
    client.force_login(auditor)
    response = client.get(reverse("admin:backoffice_auditevent_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "改名银行" in html
    assert admin_staff.username in html or str(admin_staff.pk) in html
    assert client.post(reverse("admin:reconciliation_bank_change", args=[channel.bank.pk]), {}).status_code == 403


@pytest.mark.django_db
def test_pages_exports_and_the_api_are_never_stored_by_a_browser_or_proxy(client, clerk):
    client.force_login(clerk)
    for url in ("/", "/discrepancies/", "/discrepancies/export.csv", "/api/runs/"):
        assert "no-store" in client.get(url)["Cache-Control"], url


def test_the_forwarded_address_is_believed_only_from_a_trusted_proxy(settings, rf):
    from backoffice.core.http import client_address

    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    behind = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.1.2.3")
    assert client_address(behind) == "203.0.113.9"  # the nearest hop that is not one of our proxies
    spoofed = rf.get("/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_address(spoofed) == "198.51.100.7"  # not a proxy of ours: its header is ignored
    settings.TRUSTED_PROXIES = []
    assert client_address(behind) == "10.0.0.5"


def test_an_idle_session_ends(settings):
    assert settings.SESSION_SAVE_EVERY_REQUEST and 0 < settings.SESSION_COOKIE_AGE <= 8 * 3600


@pytest.mark.django_db
def test_signing_in_pauses_after_too_many_wrong_passwords_for_that_name_and_address(client, make_staff, settings):
    make_staff(CLERK, username="typo", password="right-password-1")
    login = reverse("login")
    for _n in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(login, {"username": "typo", "password": "wrong"}).status_code == 200  # the form again
    assert client.post(login, {"username": "typo", "password": "right-password-1"}).status_code == 302  # resets
    client.logout()
    for _n in range(settings.AXES_FAILURE_LIMIT):
        client.post(login, {"username": "typo", "password": "wrong"})
    paused = client.post(login, {"username": "typo", "password": "right-password-1"}, HTTP_ACCEPT_LANGUAGE="en")
    assert paused.status_code == 429 and "Signing in is paused" in paused.content.decode()
    assert "_auth_user_id" not in client.session  # not signed in, even with the right password
    other = client.post(login, {"username": make_staff(CLERK, password="pw-2").username, "password": "pw-2"})
    assert other.status_code == 302  # someone else from the same address is not locked out
