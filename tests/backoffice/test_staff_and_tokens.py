"""Staff administration apart from money, API tokens kept as hashes, staff changes on the trail and alerted."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.db import DatabaseError, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from backoffice.core.roles import ADMIN, CHECKER, PAYMENT_CORE, USER_ADMIN
from backoffice.models import ApiToken, StaffRoleEvent, StaffUserEvent
from backoffice.services.tokens import api_token_issue, api_token_revoke, key_hash

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_admin(make_staff):
    return make_staff(USER_ADMIN)


@pytest.fixture
def core_user(make_staff):
    return make_staff(PAYMENT_CORE)


def _api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_is_kept_as_a_hash_and_its_key_works_until_revoked(core_user, staff_admin):
    token, key = api_token_issue(user=core_user, name="core", acting_user=staff_admin, now=timezone.now())

    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert key not in {str(value) for value in stored.values()}  # the key itself is nowhere
    assert stored["key_hash"] == key_hash(key) and stored["prefix"] == key[:8]
    assert _api(key).get("/api/runs/").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None
    assert _api(key[:-1] + ("x" if key[-1] != "x" else "y")).get("/api/runs/").status_code == 401

    api_token_revoke(token=token, acting_user=staff_admin, now=timezone.now())
    assert _api(key).get("/api/runs/").status_code == 401


def test_only_the_staff_administrator_issues_tokens_and_never_for_themselves(core_user, staff_admin, admin_staff, clerk):
    from django.core.exceptions import PermissionDenied

    for person in (admin_staff, clerk):
        with pytest.raises(PermissionDenied):
            api_token_issue(user=core_user, name="core", acting_user=person, now=timezone.now())
    with pytest.raises(PermissionDenied):
        api_token_issue(user=staff_admin, name="mine", acting_user=staff_admin, now=timezone.now())
    assert not ApiToken.objects.exists()


def test_issuing_in_the_admin_shows_the_key_once(client, core_user, staff_admin):
    client.force_login(staff_admin)
    response = client.post("/admin/backoffice/apitoken/add/", {"user": core_user.pk, "name": "payment core, production"})

    assert response.status_code == 200
    token = ApiToken.objects.get()
    key = response.context["key"]
    assert key_hash(key) == token.key_hash and key in response.content.decode()
    assert "shown this once" in response.content.decode()
    for page in ("/admin/backoffice/apitoken/", f"/admin/backoffice/apitoken/{token.pk}/change/"):
        shown = client.get(page)
        assert shown.status_code == 200 and key not in shown.content.decode()
    assert _api(key).get("/api/runs/").status_code == 200


def test_revoking_in_the_admin(client, core_user, staff_admin):
    token, key = api_token_issue(user=core_user, name="core", acting_user=staff_admin, now=timezone.now())
    client.force_login(staff_admin)
    client.post("/admin/backoffice/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_by == staff_admin and token.revoked_at is not None
    assert _api(key).get("/api/runs/").status_code == 401


def test_the_administrator_no_longer_manages_staff_or_tokens(client, admin_staff, core_user):
    client.force_login(admin_staff)
    for path in ("/admin/auth/user/add/", "/admin/auth/group/add/", "/admin/backoffice/apitoken/add/"):
        assert client.get(path).status_code == 403, path
    assert not admin_staff.has_perm("auth.change_user")
    assert not admin_staff.has_perm("reconciliation.add_platformtransaction")


def test_a_staff_administrator_cannot_raise_their_own_rights(client, staff_admin):
    client.force_login(staff_admin)
    checker_group = Group.objects.get(name=CHECKER)
    form = {
        "username": staff_admin.username,
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "groups": [checker_group.pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    client.post(f"/admin/auth/user/{staff_admin.pk}/change/", form)
    staff_admin.refresh_from_db()
    assert not staff_admin.is_superuser
    assert list(staff_admin.groups.values_list("name", flat=True)) == [USER_ADMIN]


def test_a_staff_administrator_gives_roles_to_others_but_never_superuser(client, staff_admin, clerk):
    client.force_login(staff_admin)
    checker_group = Group.objects.get(name=CHECKER)
    form = {
        "username": clerk.username,
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "groups": [checker_group.pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    response = client.post(f"/admin/auth/user/{clerk.pk}/change/", form)
    assert response.status_code == 302
    clerk.refresh_from_db()
    assert not clerk.is_superuser
    assert list(clerk.groups.values_list("name", flat=True)) == [CHECKER]


def test_staff_changes_are_on_the_trail_and_alerted(settings, django_capture_on_commit_callbacks, clerk):
    settings.SECURITY_ALERT_EMAILS = ["security@example.com"]
    with django_capture_on_commit_callbacks(execute=True):
        clerk.groups.add(Group.objects.get(name=CHECKER))
        clerk.is_superuser = True
        clerk.save()

    assert StaffRoleEvent.objects.filter(pgh_label="granted", user_id=clerk.pk, group__name=CHECKER).exists()
    assert StaffUserEvent.objects.filter(pgh_obj_id=clerk.pk, is_superuser=True).exists()
    subjects = sorted(message.subject for message in mail.outbox)
    assert subjects == ["[back office] staff account changed", "[back office] staff role changed"]
    assert "is_superuser: False → True" in next(m.body for m in mail.outbox if "account changed" in m.subject)


def test_the_staff_trail_cannot_be_rewritten(clerk):
    clerk.groups.add(Group.objects.get(name=CHECKER))
    event = StaffRoleEvent.objects.filter(user_id=clerk.pk).latest("pgh_id")
    with pytest.raises(DatabaseError), transaction.atomic():
        StaffRoleEvent.objects.filter(pk=event.pk).update(pgh_label="taken away")
    with pytest.raises(DatabaseError), transaction.atomic():
        StaffRoleEvent.objects.filter(pk=event.pk).delete()


def test_plain_tokens_of_an_existing_database_are_hashed_and_removed(core_user):
    plain = Token.objects.create(user=core_user)
    migration = importlib.import_module("backoffice.migrations.0005_hash_tokens_and_split_staff_administration")

    migration.hash_plain_tokens(apps, None)

    assert not Token.objects.exists()
    assert ApiToken.objects.get().user == core_user
    assert _api(plain.key).get("/api/runs/").status_code == 200  # the key the payment core holds still works


def test_the_administrator_group_of_an_existing_database_loses_staff_and_money_work():
    admin = Group.objects.get(name=ADMIN)
    held_before = ("change_user", "add_group", "propose_resolution", "add_platformtransaction", "change_refundorder")
    admin.permissions.add(*Permission.objects.filter(codename__in=held_before))
    migration = importlib.import_module("backoffice.migrations.0005_hash_tokens_and_split_staff_administration")

    migration.split_staff_administration(apps, None)

    left = set(admin.permissions.values_list("codename", flat=True))
    assert not left & set(held_before)
    assert {"view_user", "change_channel", "approve_above_threshold"} <= left
