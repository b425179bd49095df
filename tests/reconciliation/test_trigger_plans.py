"""A statement-level trigger reads its transition tables with plans that fit their real size.

PL/pgSQL plans a trigger's static statement once per connection, with the transition tables' sizes of its
first call. A join of the old and new tables planned for one row is a nested loop, kept for every later
call in that connection: an update of 10,000 rows after an update of one compared 100 million pairs (stage 1
spent 11 s of its 37 s in the audit trail's trigger on the fifth day of a history). The audit trail's
update trigger now runs its statement as dynamic SQL (planned at each call) and the reference checks of an
update take the changed rows as a set difference. Checked on the plans themselves, as PostgreSQL's
auto_explain reports them (no timing): after a one-row update, a many-row update in the same connection
joins no transition table to another by a nested loop.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone
from helpers import D, lines, local_dt, stored_run

from reconciliation.models import Discrepancy, PlatformTransaction

ROWS = 300


def _is_superuser() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        return cursor.fetchone()[0]


def plans_of(work, *, analyze: bool = False) -> list[dict]:
    """The plan of every statement ``work`` runs, the triggers' own statements included (auto_explain's
    JSON, sent to this connection as notices); ``analyze``: with the rows each node actually gave."""
    if not _is_superuser():
        pytest.skip("auto_explain can be loaded by a superuser only; the tests' database role is not one")
    notices: list[str] = []
    raw = connection.connection

    def keep(diagnostic) -> None:
        notices.append(diagnostic.message_primary or "")

    settings = {
        "auto_explain.log_min_duration": "0",
        "auto_explain.log_nested_statements": "on",
        "auto_explain.log_format": "json",
        "auto_explain.log_level": "notice",
        "auto_explain.log_analyze": "on" if analyze else "off",
        "auto_explain.log_timing": "off",
        "client_min_messages": "notice",
    }
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for name, value in settings.items():
            cursor.execute("SELECT set_config(%s, %s, false)", [name, value])
    raw.add_notice_handler(keep)
    try:
        work()
    finally:
        raw.remove_notice_handler(keep)
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('auto_explain.log_min_duration', '-1', false)")
    plans = []
    for notice in notices:
        if "plan:" in notice:
            plans.append(json.loads(notice[notice.index("{") :]))
    return plans


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _reads_transition_table(node: dict) -> bool:
    return any(n["Node Type"] == "Named Tuplestore Scan" for n in _nodes(node))


def transition_tables_nested(plans: list[dict]) -> list[str]:
    """The statements whose plan joins two transition tables by a nested loop."""
    found = []
    for plan in plans:
        for node in _nodes(plan["Plan"]):
            children = node.get("Plans", [])
            if node["Node Type"] == "Nested Loop" and len(children) == 2 and all(map(_reads_transition_table, children)):
                found.append(plan["Query Text"][:200])
    return found


def one_then_many(queryset, **changes) -> list[dict]:
    """Update one row, then every row, in one connection; the plans of the second update."""
    queryset.filter(pk=queryset.order_by("pk").values_list("pk", flat=True)[0]).update(**changes)

    def work() -> None:
        assert queryset.update(**changes) == ROWS

    return plans_of(work)


@pytest.mark.django_db
def test_an_update_of_many_discrepancies_after_one_joins_no_transition_tables_by_nested_loop(channel):
    run, now = stored_run(channel), timezone.now()
    Discrepancy.objects.bulk_create(
        Discrepancy(
            run=run,
            channel=channel,
            business_date=D,
            type="PLATFORM_ONLY",
            state="OPEN",
            batch_no=f"B{n}",
            currency="CNY",
            effect=Decimal("-1.00"),
            direction="SHORTAGE",
            created_at=now,
            updated_at=now,
        )
        for n in range(ROWS)
    )

    plans = one_then_many(Discrepancy.objects.filter(channel=channel), effect=F("effect") - 1, updated_at=timezone.now())

    # The audit trail's and the reference checks' statements were planned and seen (not a vacuous pass).
    texts = " ".join(plan["Query Text"] for plan in plans)
    assert "reconciliation_discrepancyevent" in texts and "FROM added EXCEPT SELECT" in texts
    assert any(_reads_transition_table(plan["Plan"]) for plan in plans)
    assert transition_tables_nested(plans) == []
    assert Discrepancy.objects.filter(channel=channel, effect=Decimal("-2.00")).count() == ROWS - 1


@pytest.mark.django_db
def test_an_update_of_many_records_after_one_joins_no_transition_tables_by_nested_loop(channel):
    at = local_dt(D.year, D.month, D.day, 12, 0)
    PlatformTransaction.objects.bulk_create(
        PlatformTransaction(
            txn_no=f"T{n:05d}",
            channel=channel,
            business_type="COLLECTION",
            amount=Decimal("10.00"),
            currency="CNY",
            status="PROCESSING",
            created_at=at,
            business_date=D,
            received_at=at,
            updated_at=at,
        )
        for n in range(ROWS)
    )

    plans = one_then_many(PlatformTransaction.objects.filter(channel=channel), status="SUCCESS", updated_at=timezone.now())

    texts = " ".join(plan["Query Text"] for plan in plans)
    assert "reconciliation_platformtransactionevent" in texts and "FROM added EXCEPT SELECT" in texts
    assert transition_tables_nested(plans) == []
    assert PlatformTransaction.objects.filter(channel=channel, status="SUCCESS").count() == ROWS


@pytest.mark.django_db
def test_no_trigger_joins_its_old_and_new_rows_in_a_statement_planned_once():
    """Every trigger given both transition tables: no static statement of its function joins one of them
    (dynamic SQL, planned at each call, may). Catches a model tracked with pghistory's own UpdateEvent."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.tgrelid::regclass::text, t.tgname, t.tgoldtable, t.tgnewtable, p.prosrc
            FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
            WHERE t.tgoldtable IS NOT NULL AND t.tgnewtable IS NOT NULL AND NOT t.tgisinternal
            """
        )
        triggers = cursor.fetchall()
    assert len(triggers) >= 20  # the audit trail's update triggers at least
    static_joins = []
    for table, name, old, new, source in triggers:
        static = re.sub(r"EXECUTE\s+(\$\w*\$).*?\1", "", source, flags=re.S)
        if re.search(rf"JOIN\s+({re.escape(old)}|{re.escape(new)})\b", static, flags=re.I):
            static_joins.append(f"{table}.{name}")
    assert static_joins == []


@pytest.mark.django_db
def test_the_reference_checks_read_only_the_lines_they_refer_to(channel):
    """The checks of new discrepancies' lines read those lines, not the table: locked as a sorted IN (...), ten
    thousand references were planned as a merge join over every partition's primary key (a month of lines)."""
    statement_file = lines(channel, D, *({"txn_no": f"T{n:05d}", "amount": "10.00"} for n in range(5000)))
    referred = list(statement_file.lines.order_by("-id").values_list("id", flat=True)[:ROWS])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reconciliation_statementline")
    run, now = stored_run(channel), timezone.now()

    def work() -> None:
        Discrepancy.objects.bulk_create(
            Discrepancy(
                run=run,
                channel=channel,
                business_date=D,
                type="BANK_ONLY",
                state="OPEN",
                match_key=f"L{line_id}",
                statement_line_id=line_id,
                currency="CNY",
                effect=Decimal("10.00"),
                direction="OVERAGE",
                created_at=now,
                updated_at=now,
            )
            for line_id in referred
        )

    plans = plans_of(work, analyze=True)
    checks = [plan for plan in plans if "FOR KEY SHARE" in plan["Query Text"] and "statementline" in plan["Query Text"]]
    assert checks  # the check ran and was seen
    read = sum(
        node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
        for plan in checks
        for node in _nodes(plan["Plan"])
        if "statementline" in node.get("Relation Name", "")
    )
    assert ROWS <= read <= 2 * ROWS
