"""Plain helpers for tests (fixtures live in conftest.py)."""

import io
import threading
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from itertools import count
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from hypothesis.stateful import RuleBasedStateMachine

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_dt(*args) -> datetime:
    """An aware datetime in the product's time zone."""
    return datetime(*args, tzinfo=SHANGHAI)


def wechat_rows(count: int = 3, *, start: int = 1, day: tuple = (2026, 11, 24), **overrides):
    """Successful WeChat collections P00000001… of 6.00 CNY (fee 0.04) on ``day``."""
    from decimal import Decimal

    from reconciliation.parsers.base import LineStatus, LineType, StatementLineRow

    return [
        StatementLineRow(
            start + i,
            f"4200000{start + i:021d}",
            f"P{start + i:08d}",
            LineType.COLLECTION,
            LineStatus.SUCCESS,
            Decimal("6.00"),
            Decimal("0.04"),
            "CNY",
            local_dt(*day, 10, 0, i % 60),
            None,
            fee_rate=Decimal("0.006"),
        )._replace(**overrides)
        for i in range(count)
    ]


def wechat_bill(rows) -> bytes:
    """A WeChat Pay trade bill (current layout) holding ``rows``."""
    from reconciliation.parsers.writers import render, write_wechat_trade

    return render(write_wechat_trade, rows)


# --- Reconciliation scenarios: our transactions, the channel's lines, a run ----------------------------

from django.db import connection  # noqa: E402
from django.db.models import Sum  # noqa: E402

from accounts.models import Entry, LedgerAccount  # noqa: E402
from accounts.services.books import ledger_balance, signed_balance, trial_balance  # noqa: E402
from reconciliation.models import (  # noqa: E402
    Discrepancy,
    FundMovement,
    PlatformTransaction,
    ReconciliationRun,
    StatementFile,
    StatementLine,
)
from reconciliation.services.channels.fees import FeeSpec, fee_compute  # noqa: E402
from reconciliation.services.engine.runs import run_execute, run_start  # noqa: E402
from reconciliation.services.intake.statements import StatementRefused, statement_parse, statement_receive  # noqa: E402

D = date(2026, 11, 24)
_serial = count(1)


def txn(channel, txn_no, amount, status="SUCCESS", business_type="COLLECTION", day=D, **fields):
    at = fields.pop("created_at", None) or local_dt(day.year, day.month, day.day, 12, 0)
    return PlatformTransaction.objects.create(
        txn_no=txn_no,
        channel=channel,
        business_type=business_type,
        amount=Decimal(amount),
        currency="CNY",
        status=status,
        created_at=at,
        business_date=day,
        received_at=at,
        updated_at=at,
        **fields,
    )


def fee_of(amount, rate="0.006"):
    return fee_compute(spec=FeeSpec.flat_rate(Decimal(rate)), amount=Decimal(amount)).fee


def parsed_file(channel, day, *, kind="BUSINESS", format_code="WECHAT_TRADE") -> StatementFile:
    """A parsed statement file of ``day`` (its rows are written by the caller)."""
    return StatementFile.objects.create(
        channel=channel,
        kind=kind,
        statement_date=day,
        format_code=format_code,
        sha256=f"{next(_serial):064d}",
        raw_file="test",
        size=1,
        source="COMMAND",
        status="PARSED",
        received_at=timezone.now(),
    )


def lines(channel, day, *rows):
    """A parsed business-detail file of ``day`` holding ``rows`` (dicts of StatementLine fields)."""
    statement_file = parsed_file(channel, day)
    StatementLine.objects.bulk_create(
        StatementLine(
            file=statement_file,
            channel=channel,
            statement_date=day,
            line_no=n,
            currency="CNY",
            raw=f"line {n}",
            **{
                "line_type": "COLLECTION",
                "status": "SUCCESS",
                "channel_txn_no": f"42{n:06d}{next(_serial)}",
                **row,
                "amount": Decimal(row["amount"]),
                "fee": Decimal(row.get("fee", fee_of(row["amount"]))),
            },
        )
        for n, row in enumerate(rows, 2)
    )
    return statement_file


def movements(channel, day, *rows, bank_account=None):
    """A parsed fund statement of ``day`` on the channel's settlement account holding ``rows`` (dicts of
    FundMovement fields: direction, amount, references, memo)."""
    statement_file = parsed_file(channel, day, kind="FUND", format_code="MT940")
    FundMovement.objects.bulk_create(
        FundMovement(
            file=statement_file,
            channel=channel,
            bank_account=bank_account or channel.settlement_account,
            statement_date=day,
            booking_date=day,
            line_no=n,
            currency="CNY",
            raw=f"movement {n}",
            **{"direction": "CREDIT", **row, "amount": Decimal(row["amount"])},
        )
        for n, row in enumerate(rows, 1)
    )
    return statement_file


def reconcile_funds(channel, day):
    run = run_start(channel=channel, business_date=day, trigger="COMMAND", now=timezone.now(), execute=False, stage="FUND")
    run = run_execute(run=run, now=timezone.now())
    assert run.status == ReconciliationRun.Status.SUCCEEDED, run.error
    return run


def reconcile(channel, day=D):
    run = run_start(channel=channel, business_date=day, trigger="COMMAND", now=timezone.now(), execute=False)
    run = run_execute(run=run, now=timezone.now())
    assert run.status == ReconciliationRun.Status.SUCCEEDED, run.error
    return run


def stored_run(channel, day=D, **counts):
    """A finished run of ``day`` as the engine leaves it (``counts`` as its outcome totals)."""
    now = timezone.now()
    return ReconciliationRun.objects.create(
        channel=channel,
        business_date=day,
        status="SUCCEEDED",
        trigger="COMMAND",
        created_at=now,
        finished_at=now,
        counts=counts,
    )


def stored_discrepancy(channel, effect, *, day=D, type="PLATFORM_ONLY", state="OPEN", **fields):
    """A discrepancy of ``effect`` found by a run of its own (a batch number as its side unless given)."""
    now = timezone.now()
    effect = Decimal(effect)
    if "platform_txn" not in fields:
        fields["batch_no"] = f"B{next(_serial)}"
    return Discrepancy.objects.create(
        run=stored_run(channel, day),
        channel=channel,
        business_date=day,
        type=type,
        state=state,
        currency="CNY",
        effect=effect,
        direction="OVERAGE" if effect > 0 else "SHORTAGE" if effect < 0 else "",
        created_at=now,
        updated_at=now,
        **fields,
    )


def books_hold(*, as_of):
    """The books' invariants: every voucher balances (the database's deferred checks forced now, not at
    commit), the trial balance balances in every currency, and each account's balance is the sum of its
    posted vouchers' entries (a voucher proposed, rejected or waiting moves nothing)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    assert trial_balance(as_of=as_of).balanced
    for account in LedgerAccount.objects.filter(entries__isnull=False).distinct():
        sums = Entry.objects.filter(ledger_account=account, voucher__status="POSTED").aggregate(d=Sum("debit"), c=Sum("credit"))
        assert ledger_balance(account) == signed_balance(account, sums["d"] or 0, sums["c"] or 0)


# --- Celery ---------------------------------------------------------------------------------------


def point_broker(app, url: str) -> None:
    """Publish (and, for a worker started afterwards, consume) through ``url``. Celery reads the
    CELERY_BROKER_URL environment variable before its configuration (the test settings set it to
    ``memory://``), so both are set."""
    import os

    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


def api_key_for(user) -> str:
    """A fresh API token's key for ``user`` (as the staff administrator would issue it)."""
    from backoffice.services.tokens import api_token_issue

    return api_token_issue(user=user, name="test", acting_user=None, now=timezone.now())[1]


def receive(channel, data: bytes, *, name="statement", **kwargs):
    """A statement file received as an upload (not parsed)."""
    return statement_receive(
        channel=channel,
        content=io.BytesIO(data),
        original_name=name,
        source=StatementFile.Source.UPLOAD,
        acting_user=None,
        now=timezone.now(),
        **kwargs,
    )


def take_in(channel, data: bytes, **kwargs):
    """Receive and parse; a refusal at parsing leaves the FAILED file to look at."""
    statement_file = receive(channel, data, **kwargs)
    try:
        statement_parse(statement_file=statement_file, now=timezone.now(), reconcile=False)
    except StatementRefused:
        pass
    statement_file.refresh_from_db()
    return statement_file


class RolledBackMachine(RuleBasedStateMachine):
    """A Hypothesis state machine whose every example runs in a savepoint rolled back at its end, so the
    examples of one test see nothing of each other."""

    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)


@contextmanager
def held_open(work):
    """Run ``work()`` on another connection, inside a transaction kept open (with its locks) until the block
    ends, then rolled back: what a concurrent writer or a long report holds meanwhile."""
    holding, release = threading.Event(), threading.Event()

    def other():
        from django.db import close_old_connections

        try:
            with transaction.atomic():
                work()
                holding.set()
                release.wait(30)
                transaction.set_rollback(True)
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert holding.wait(30), "the other transaction did not start"
        yield
    finally:
        release.set()
        thread.join(30)
