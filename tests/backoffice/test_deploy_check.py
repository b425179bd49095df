"""Production settings pass Django's deployment check, a weakened one fails it, and no variable lets the
product start without a secret key when DEBUG is off."""

import ast
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Set for the test run by pyproject.toml: a production process has none of them.
TEST_ONLY = ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")
TEST_ONLY += ("STATIC_FROM_FINDERS", "CELERY_TASK_ALWAYS_EAGER", "SECURE_HSTS_SECONDS", "BACKOFFICE_ALLOW_INSECURE_KEY")

CHECK = (
    "import django; django.setup(); from django.core.management import call_command; "
    "call_command('check', deploy=True, fail_level='WARNING')"
)


def production_env(**overrides: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in TEST_ONLY}
    env.update(
        DJANGO_SETTINGS_MODULE="backoffice.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="backoffice.example",
    )
    env.update(overrides)
    return env


def run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_production_settings_pass_the_deploy_check():
    result = run(CHECK, production_env())
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("overrides", "warning"),
    [
        ({"SECRET_KEY": "short-and-guessable"}, "security.W009"),
        ({"SECURE_SSL_REDIRECT": "0"}, "security.W008"),
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SESSION_COOKIE_SECURE": "0"}, "security.W012"),
    ],
)
def test_a_weakened_production_setting_fails_the_deploy_check(overrides, warning):
    result = run(CHECK, production_env(**overrides))
    assert result.returncode != 0
    assert warning in result.stderr


def test_https_settings_follow_the_environment():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(repr((s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "s.SECURE_HSTS_PRELOAD, s.SECURE_PROXY_SSL_HEADER)))"
    )

    def https_settings(env):
        return ast.literal_eval(run(code, env).stdout.strip())

    assert https_settings(production_env()) == (True, 31536000, True, False, None)
    behind_proxy = production_env(SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto", SECURE_HSTS_PRELOAD="1")
    assert https_settings(behind_proxy) == (True, 31536000, True, True, ("HTTP_X_FORWARDED_PROTO", "https"))
    assert https_settings(production_env(DEBUG="1", SECRET_KEY=""))[:2] == (False, 0)


def test_no_variable_lets_the_product_start_without_a_secret_key():
    # The old escape hatch (BACKOFFICE_ALLOW_INSECURE_KEY) is gone: outside the test run's own settings,
    # DEBUG off without SECRET_KEY never starts.
    env = production_env(BACKOFFICE_ALLOW_INSECURE_KEY="1")
    del env["SECRET_KEY"]
    result = run("import django; django.setup()", env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off" in result.stderr
