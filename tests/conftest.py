"""Builders shared by the whole suite. Each builder creates a valid object; tests override what they test."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from itertools import count

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from helpers import local_dt, point_broker
from hypothesis import settings as hypothesis_settings

from accounts.models import Account, Customer, CustomerUser, Merchant
from backoffice.core.roles import ADMIN, AUDITOR, CHECKER, CLERK
from reconciliation.models import Bank, BankAccount, BusinessType, Channel, FeeModel, Rounding

_seq = count(1)

# Hypothesis keeps no example database: tests leave nothing in the working tree (a failure prints the
# example and the seed to reproduce it).
hypothesis_settings.register_profile("project", database=None)
hypothesis_settings.load_profile("project")


def pytest_unconfigure(config):
    """A test run that had to start the embedded PostgreSQL (no DATABASE_URL) stops it again, so the
    tests leave nothing running; a server that was already up (``make run``) is left alone."""
    from django.conf import settings

    from backoffice.core.embedded_db import embedded_server_stop, started_by_this_process

    data_dir = settings.DATABASES["default"].get("EMBEDDED_DATA_DIR")
    if data_dir and started_by_this_process(data_dir):
        embedded_server_stop(data_dir)


@pytest.fixture(autouse=True, scope="session")
def _media_in_tmp(tmp_path_factory):
    """Stored statement files go to a temporary folder, never into the working tree's var/media."""
    from django.test.utils import override_settings

    folder = tmp_path_factory.mktemp("media")
    with override_settings(MEDIA_ROOT=str(folder)):
        yield folder


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Test users' passwords hashed with a fast hasher: the production hasher's deliberate slowness is not
    what these tests test, and hundreds of users are created."""
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _day_partitions_left_as_found(request):
    """A test that commits (``transaction=True``) may make day partitions, which its flush empties but does
    not drop: they are dropped after it, so every test starts from the partitions the migrations made."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        yield
        return
    request.getfixturevalue("transactional_db")
    from django.db import connection

    def day_partitions() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid WHERE c.relname ~ '_p[0-9]{8}$'"
            )
            return {name for (name,) in cursor.fetchall()}

    before = day_partitions()
    yield
    for name in sorted(day_partitions() - before):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {name}")


@pytest.fixture(autouse=True)
def english_by_default():
    """Messages asserted in English unless a test asks for another language explicitly."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def client():
    """The test client as an English-speaking browser (tests pass Accept-Language to change it)."""
    from django.test import Client

    return Client(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def make_staff(db):
    def make(role: str, username: str | None = None, password: str = "pw-for-tests-1"):
        user = get_user_model().objects.create_user(username=username or f"{role}{next(_seq)}", password=password, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def clerk(make_staff):
    return make_staff(CLERK)


@pytest.fixture
def checker(make_staff):
    return make_staff(CHECKER)


@pytest.fixture
def admin_staff(make_staff):
    return make_staff(ADMIN)


@pytest.fixture
def auditor(make_staff):
    return make_staff(AUDITOR)


@pytest.fixture
def make_customer(db):
    def make(kind: str = Customer.Kind.INDIVIDUAL, **overrides) -> Customer:
        n = next(_seq)
        if kind == Customer.Kind.INDIVIDUAL:
            fields = {"name": f"测试个人{n}", "id_type": Customer.IdType.PASSPORT, "id_number": f"E{n:08d}"}
        else:
            # A credit code with a correct check character, unique per call.
            from accounts.validators import uscc_check_char

            base = f"91310000MA{n:07d}"
            fields = {"name": f"测试企业{n}有限公司", "credit_code": base + uscc_check_char(base), "legal_representative": "赵敏"}
        customer = Customer(customer_no=f"T{n:08d}", kind=kind, **{**fields, **overrides})
        customer.full_clean()
        customer.save()
        return customer

    return make


@pytest.fixture
def make_account(db):
    def make(customer: Customer, **overrides) -> Account:
        return Account.objects.create(
            customer=customer, **{"account_no": f"A{next(_seq):010d}", "kind": Account.Kind.WALLET, **overrides}
        )

    return make


@pytest.fixture
def make_merchant(db):
    def make(customer: Customer, **overrides) -> Merchant:
        return Merchant.objects.create(
            customer=customer, **{"merchant_no": f"M{next(_seq):08d}", "name": "测试商户", "mcc": "5411", **overrides}
        )

    return make


@pytest.fixture
def make_customer_user(db):
    def make(customer: Customer, **overrides) -> CustomerUser:
        return CustomerUser.objects.create(customer=customer, **{"phone": f"139{next(_seq):08d}", **overrides})

    return make


@pytest.fixture
def bank(db) -> Bank:
    return Bank.objects.create(code="TESTBANK", name="测试银行")


@pytest.fixture
def reserve_account(bank) -> BankAccount:
    return BankAccount.objects.create(
        bank=bank, kind=BankAccount.Kind.RESERVE, account_no="6222000011112222", account_name="备付金专户"
    )


@pytest.fixture
def general_account(bank) -> BankAccount:
    return BankAccount.objects.create(
        bank=bank, kind=BankAccount.Kind.GENERAL, account_no="6222000033334444", account_name="一般户"
    )


@pytest.fixture
def make_channel(bank, reserve_account):
    def make(code: str = "TESTCH", **overrides) -> Channel:
        fields = {
            "name": f"通道 {code}",
            "bank": bank,
            # OTHER: takes any statement format (tests upload WeChat, Alipay, UnionPay and bank files to it);
            # a test of the per-kind format rule passes its kind.
            "kind": Channel.Kind.OTHER,
            "settlement_account": reserve_account,
            "settlement_times": [time(10, 0)],
            **overrides,
        }
        return Channel.objects.create(code=code, **fields)

    return make


@pytest.fixture
def channel(make_channel) -> Channel:
    return make_channel()


@pytest.fixture
def wx(make_channel, make_fee_model, general_account):
    """A WeChat-like channel matching on our order number: 0.6% half-up on collections and refunds,
    a fixed 2.00 per payout billed to our general account, 1.00 per batch item."""
    channel = make_channel("WX", carry_over_days=2)
    make_fee_model(channel, business_type=BusinessType.COLLECTION, rate=Decimal("0.006"))
    make_fee_model(channel, business_type=BusinessType.REFUND, rate=Decimal("0.006"))
    external = {"rate": Decimal(0), "charging_mode": FeeModel.ChargingMode.EXTERNAL, "charged_account": general_account}
    make_fee_model(channel, business_type=BusinessType.PAYOUT, fixed_amount=Decimal("2.00"), **external)
    make_fee_model(channel, business_type=BusinessType.BATCH_PAYOUT, fixed_amount=Decimal("1.00"), **external)
    return channel


@pytest.fixture
def make_fee_model(db):
    def make(channel: Channel, **overrides) -> FeeModel:
        fields = {
            "business_type": BusinessType.COLLECTION,
            "rate": Decimal("0.006"),
            "rounding": Rounding.HALF_UP,
            "charging_mode": FeeModel.ChargingMode.INTERNAL,
            "valid_from": local_dt(2025, 1, 1),
            **overrides,
        }
        return FeeModel.objects.create(channel=channel, **fields)

    return make


# --- Real services for end-to-end tests --------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """A real Celery worker (in a thread of this process) on a real broker: Redis when TEST_REDIS_URL is
    set (CI), else kombu's filesystem transport in a temporary directory (a machine with no Redis).
    Tasks stop running eagerly for the test's duration; everything is stopped and restored after."""
    import os

    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun

    from backoffice.celery import app

    saved = {key: app.conf.get(key) for key in ("task_always_eager", "broker_url", "broker_transport_options")}
    saved_env = os.environ.get("CELERY_BROKER_URL")
    app.conf.task_always_eager = False
    if os.environ.get("TEST_REDIS_URL"):
        point_broker(app, os.environ["TEST_REDIS_URL"])
        app.conf.broker_transport_options = {}
    else:
        queue = tmp_path / "broker"
        for sub in ("queue", "processed", "control"):
            (queue / sub).mkdir(parents=True)
        point_broker(app, "filesystem://")
        app.conf.broker_transport_options = {
            "data_folder_in": str(queue / "queue"),
            "data_folder_out": str(queue / "queue"),
            "processed_folder": str(queue / "processed"),
            "control_folder": str(queue / "control"),
        }
    _reset_broker_pools(app)
    # The worker's thread keeps its own database connection: close it after every task, or the test
    # database could not be dropped at the end of the session.
    task_postrun.connect(_close_worker_connection, dispatch_uid="tests.close_worker_connection")
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            yield app
    finally:
        task_postrun.disconnect(dispatch_uid="tests.close_worker_connection")
        app.conf.update(saved)
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        _reset_broker_pools(app)


def _close_worker_connection(**kwargs):
    from django.db import connections

    connections.close_all()


def _reset_broker_pools(app) -> None:
    """Forget broker connections made with the previous broker settings: Celery keeps them per app, and
    kombu in process-wide pools keyed by connection (a closed pool would otherwise be handed out again)."""
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def browser(monkeypatch):
    """Debian's Chromium driven by Playwright (its own browser download does not work here)."""
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    # Playwright's sync API keeps an event loop in this thread; the test's own database calls are
    # ordinary synchronous ones, which Django would otherwise refuse next to a running loop.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        # Database connections opened by the test body while Playwright's loop ran are kept apart from
        # pytest-django's (asgiref's context-local storage): close them here, in the same context.
        from django.db import connections

        connections.close_all()
        chromium.close()


@pytest.fixture
def login_page(browser, live_server):
    """A logged-in English page for a user with a known password. Pages are closed after the test, so
    none keeps polling the server while the test database is torn down."""
    contexts = []

    def open_as(user, password="pw-for-tests-1", locale="en-US"):
        context = browser.new_context(
            locale=locale, extra_http_headers={"Accept-Language": locale}, viewport={"width": 1400, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30000)
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", password)
        page.click("main button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    yield open_as
    for context in contexts:
        context.close()
