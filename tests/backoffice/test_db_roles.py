"""The application's database role owns nothing: it works the product, but cannot rewrite the trail.

The test creates a throwaway login role in the real PostgreSQL, grants it as ``migrate`` would, and
connects with it: the writes the product makes succeed (a reconciliation run in a separate process, as
a deployment runs it), while updating, deleting or truncating history, disabling its triggers or
switching them off for the session are refused.
"""

import json
import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection, transaction
from helpers import D, lines, txn

from backoffice.core.db_roles import append_only_tables, grants_apply
from reconciliation.models import Channel, Discrepancy, StatementLine, WorkflowEvent
from reconciliation.services.partitions import PartitionError, partitions_archive

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app_role():
    role = f"test_app_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER')
    grants_apply(role)
    yield role
    with connection.cursor() as cursor:
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE "{role}"')


def _connect(role: str) -> psycopg.Connection:
    params = {k: v for k, v in connection.get_connection_params().items() if k not in ("cursor_factory", "context")}
    params["user"] = role
    params.pop("password", None)
    return psycopg.connect(**params, autocommit=True)


def _refused(conn: psycopg.Connection, statement: str) -> bool:
    try:
        conn.execute(statement)
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectNotInPrerequisiteState):
        return True
    return False


def test_the_trail_is_append_only_for_the_application(wx, app_role):
    wx.name = "renamed once"
    wx.save()  # a history row to try to rewrite
    channel_events = Channel._meta.db_table + "event"
    assert channel_events in append_only_tables()
    assert WorkflowEvent._meta.db_table in append_only_tables()

    with _connect(app_role) as conn:
        # What the product does: it writes configuration and records; its audit triggers write history.
        conn.execute(f"UPDATE {Channel._meta.db_table} SET name = 'renamed by the app' WHERE id = %s", [wx.pk])
        assert conn.execute(f"SELECT count(*) FROM {channel_events} WHERE pgh_obj_id = %s", [wx.pk]).fetchone()[0] == 3

        assert _refused(conn, f"UPDATE {channel_events} SET name = 'rewritten'")
        assert _refused(conn, f"DELETE FROM {channel_events}")
        assert _refused(conn, f"TRUNCATE {channel_events}")
        assert _refused(conn, f"DELETE FROM {WorkflowEvent._meta.db_table}")
        assert _refused(conn, f"ALTER TABLE {channel_events} DISABLE TRIGGER ALL")
        assert _refused(conn, f"ALTER TABLE {Channel._meta.db_table} DISABLE TRIGGER ALL")
        assert _refused(conn, "SET session_replication_role = replica")
        assert _refused(conn, f"DROP TABLE {channel_events}")
        assert _refused(conn, "CREATE TABLE public.smuggled (id int)")
    events = connection.cursor()
    events.execute(f"SELECT count(*) FROM {channel_events} WHERE pgh_obj_id = %s", [wx.pk])
    assert events.fetchone()[0] == 3


def test_the_product_runs_under_the_application_role(wx, app_role, tmp_path):
    txn(wx, "P1", "6.00")
    txn(wx, "P2", "7.00")
    lines(wx, D, {"txn_no": "P1", "amount": "6.00"})
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{app_role}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        "BACKOFFICE_VAR_DIR": str(tmp_path),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "reconcile", "--channel", wx.code, "--date", D.isoformat(), "--json"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "SUCCEEDED"
    assert Discrepancy.objects.filter(channel=wx, match_key="P2").exists()


def test_the_application_makes_a_days_partition_but_cannot_take_days_out(app_role):
    """A day's partition is made through the owner's function (a parse or the beat runs as the application);
    detaching one, which takes rows out of the live tables, is the owner's alone."""
    day, name = "2031-01-02", "reconciliation_statementline_p20310102"
    try:
        with _connect(app_role) as conn:
            made = conn.execute("SELECT statement_partition_make('reconciliation_statementline'::regclass, %s)", [day])
            assert made.fetchone()[0] == 0
            assert conn.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()[0]
            assert conn.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [name]).fetchone()[0] == -1
            conn.execute("SELECT daily_rows_analyze(%s::regclass)", [name])  # the owner's ANALYZE, asked for
            # An analysed table's row estimate is a count (0 here), a never-analysed one's is -1.
            assert conn.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [name]).fetchone()[0] == 0
            assert _refused(conn, f"ALTER TABLE reconciliation_statementline DETACH PARTITION {name}")
            assert _refused(conn, f"DROP TABLE {name}")
            with pytest.raises(psycopg.errors.RaiseException, match="is not partitioned by day"):
                conn.execute("SELECT statement_partition_make('reconciliation_channel'::regclass, '2031-01-02')")
        # The command's archive, run with the application's login, says whose it is and touches nothing.
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f'SET LOCAL ROLE "{app_role}"')
            with pytest.raises(PartitionError, match="needs the tables' owner"):
                partitions_archive(StatementLine, before=date(2031, 1, 3), today=date(2031, 6, 1))
        assert conn_exists(name)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")


def conn_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def test_setting_the_roles_up_on_an_existing_database_hands_everything_to_the_owner(wx):
    from backoffice.core.db_roles import roles_create

    suffix = uuid.uuid4().hex[:8]
    owner, app = f"test_owner_{suffix}", f"test_app_{suffix}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        superuser = cursor.fetchone()[0]
    try:
        roles_create(owner=owner, app_role=app)
        grants_apply(app)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S') AND pg_get_userbyid(c.relowner) <> %s",
                [owner],
            )
            assert cursor.fetchone()[0] == 0
        with _connect(app) as conn:
            conn.execute(f"UPDATE {Channel._meta.db_table} SET name = 'renamed by the app' WHERE id = %s", [wx.pk])
            assert _refused(conn, f"ALTER TABLE {Channel._meta.db_table} DISABLE TRIGGER ALL")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            database = cursor.fetchone()[0]
            cursor.execute(f'ALTER DATABASE "{database}" OWNER TO "{superuser}"')
            for role in (owner, app):
                cursor.execute(f'REASSIGN OWNED BY "{role}" TO "{superuser}"')
                cursor.execute(f'DROP OWNED BY "{role}"')
                cursor.execute(f'DROP ROLE "{role}"')
