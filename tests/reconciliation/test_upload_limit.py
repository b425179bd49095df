"""STATEMENT_MAX_BYTES holds while the upload streams in: a file past it is cut off (a request declaring far
more is refused at its first file), the screen and the API say so clearly, and nothing is stored."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from helpers import api_key_for, wechat_bill, wechat_rows
from rest_framework.test import APIClient

from reconciliation.models import StatementFile

LIMIT = 1 << 20
CUT_OFF = "big.csv: the file is too big: more than 1 MB (STATEMENT_MAX_BYTES)"
UNREAD = "the upload is too big: more than 1 MB (STATEMENT_MAX_BYTES); upload big files one at a time"


@pytest.fixture(autouse=True)
def one_megabyte(settings):
    settings.STATEMENT_MAX_BYTES = LIMIT


@pytest.fixture
def core(db):
    """The payment core's API client (token auth), as in test_api.py."""
    user = get_user_model().objects.create_user(username="core")
    user.groups.add(Group.objects.get(name="payment_core"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(user)}")
    return client


def a_file(size: int, name: str = "big.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"x" * size, content_type="text/csv")


@pytest.mark.django_db
@pytest.mark.parametrize(("size", "reason"), [(LIMIT + 1, CUT_OFF), (3 * LIMIT, UNREAD)])
def test_the_upload_screen_refuses_a_file_too_big_with_the_reason(clerk, channel, size, reason):
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(clerk)
    url = reverse("reconciliation:statement_upload")
    token = browser.get(url).cookies["csrftoken"].value
    # The fields come before the file, as the browser sends the form: the CSRF token is read either way.
    response = browser.post(url, {"csrfmiddlewaretoken": token, "channel": channel.pk, "files": a_file(size)})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors == {"files": [reason]}  # the reason alone, not "this field is required"
    assert reason in response.content.decode()
    assert not StatementFile.objects.exists()


@pytest.mark.django_db
def test_the_upload_screen_answers_an_htmx_upload_in_its_results(client, clerk, channel):
    client.force_login(clerk)
    response = client.post(
        reverse("reconciliation:statement_upload"), {"channel": channel.pk, "files": a_file(LIMIT + 1)}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "reconciliation/_upload_results.html"
    assert CUT_OFF in response.content.decode()
    assert not StatementFile.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("size", "reason"), [(LIMIT + 1, CUT_OFF), (3 * LIMIT, UNREAD)])
def test_the_api_answers_413_with_the_reason(core, channel, size, reason):
    response = core.post(
        "/api/statements/", {"channel": "TESTCH", "file": a_file(size)}, format="multipart", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 413
    assert response.json() == {"detail": reason}
    assert not StatementFile.objects.exists()


@pytest.mark.django_db
def test_a_file_within_the_limit_is_taken_in(core, channel):
    upload = io.BytesIO(wechat_bill(wechat_rows(3)))
    upload.name = "wx.csv"
    response = core.post("/api/statements/", {"channel": "TESTCH", "file": upload}, format="multipart")
    assert response.status_code == 201
    assert StatementFile.objects.get().original_name == "wx.csv"
