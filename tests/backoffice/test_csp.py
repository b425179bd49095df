"""The Content-Security-Policy: on every answer, strict on the product's pages, and the pages work under it
(no script, handler or style refused in a real browser)."""

import re

import pytest
from django.test import Client
from helpers import api_key_for

STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def policy(response) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (part.split() for part in response["Content-Security-Policy"].split(";"))}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/statements/",
        "/runs/",
        "/discrepancies/",
        "/books/",
        "/runs/export.csv",
        "/discrepancies/export.xlsx",
        "/api/runs/",
        "/no-such-page/",
    ],
)
def test_pages_exports_and_api_answers_carry_the_strict_policy(client, admin_staff, path):
    client.force_login(admin_staff)
    response = client.get(path)
    assert response["Content-Security-Policy"] == STRICT


@pytest.mark.django_db
def test_token_api_answers_static_files_and_the_login_page_carry_it_too(client, clerk):
    api = Client(HTTP_AUTHORIZATION=f"Token {api_key_for(clerk)}")
    assert api.get("/api/runs/")["Content-Security-Policy"] == STRICT
    assert client.get("/accounts/login/")["Content-Security-Policy"] == STRICT
    static = client.get("/static/css/app.css")
    assert static.status_code == 200 and static["Content-Security-Policy"] == STRICT


@pytest.mark.django_db
def test_the_admin_allows_inline_styles_never_inline_scripts(client, admin_staff):
    client.force_login(admin_staff)
    admin = policy(client.get("/admin/"))
    assert admin["style-src"] == ["'self'", "'unsafe-inline'"]
    assert admin["script-src"] == ["'self'"]
    # The export form's one inline handler is allowed by its hash, not by 'unsafe-inline'.
    export = client.get("/admin/accounts/customer/export/")
    assert 'onchange="onSelectToggleChange(event)"' in export.content.decode()
    assert policy(export)["script-src"] == [
        "'self'",
        "'unsafe-hashes'",
        "'sha256-wid4zL8fR53ZYy1ljOepzR77Dn6vWUUxuNnnWWBP3I8='",
    ]


@pytest.mark.django_db
def test_the_api_documentation_runs_only_its_own_script_by_nonce(client, admin_staff):
    client.force_login(admin_staff)
    first, second = client.get("/docs/api/"), client.get("/docs/api/")
    nonces = []
    for response in (first, second):
        script_src = policy(response)["script-src"]
        assert script_src[0] == "'self'" and len(script_src) == 2 and "'unsafe-inline'" not in script_src
        nonce = re.fullmatch(r"'nonce-([\w-]+)'", script_src[1]).group(1)
        assert f'<script nonce="{nonce}">' in response.content.decode()
        nonces.append(nonce)
    assert nonces[0] != nonces[1]
    # Pages that use no nonce do not announce one.
    assert policy(client.get("/docs/api/redoc/"))["script-src"] == ["'self'"]


@pytest.mark.django_db
def test_product_templates_hold_no_inline_script_handler_or_style(client, admin_staff):
    client.force_login(admin_staff)
    for path in ("/", "/statements/", "/statements/upload/", "/runs/", "/discrepancies/", "/clearing/", "/books/"):
        html = client.get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>(?!\s*</script>)", html), path
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert not re.search(r"\sstyle\s*=|<style", html), path
        assert "javascript:" not in html, path


# --- In the browser -------------------------------------------------------------------------------
# What the browser reports about the policy: a refused script, handler, style, image, worker, ...
REFUSAL = re.compile(r"Content Security Policy|Refused to")
# ReDoc always shows its maker's logo from cdn.redoc.ly: refused on purpose (no third-party requests).
EXPECTED = re.compile(r"https://cdn\.redoc\.ly/")


@pytest.mark.browser
def test_no_page_breaks_the_policy_in_a_browser(login_page, live_server, admin_staff):
    page = login_page(admin_staff)
    refused = []
    page.context.on("console", lambda message: refused.append(f"{page.url}: {message.text}"))
    for path in (
        "/",
        "/statements/",
        "/statements/upload/",
        "/runs/",
        "/discrepancies/",
        "/clearing/",
        "/books/",
        "/admin/",
        "/admin/accounts/customer/export/",
        "/admin/django_celery_beat/periodictask/add/",
    ):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("load")
    page.goto(f"{live_server.url}/docs/api/")
    page.wait_for_selector(".swagger-ui .information-container")
    page.goto(f"{live_server.url}/docs/api/redoc/")
    page.wait_for_selector(".api-content")
    # The language switcher submits from a script file (it was an inline onchange handler).
    page.goto(f"{live_server.url}/runs/")
    page.select_option("#lang-select", "zh-hans")
    page.wait_for_function("document.documentElement.lang === 'zh-hans'")
    page.select_option("#lang-select", "en")
    page.wait_for_function("document.documentElement.lang === 'en'")
    violations = [text for text in refused if REFUSAL.search(text) and not EXPECTED.search(text)]
    assert violations == []
