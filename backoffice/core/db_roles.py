"""Two database roles: the owner, who runs migrations, and the application, which owns nothing.

The application's role reads and writes the product's tables, but the trail is append-only for it:
audit and history tables (pghistory events, the workflow's events, runs' findings) take INSERT and
SELECT only. Owning no table, it cannot disable a trigger, truncate, alter or drop; not being a
superuser, it cannot set ``session_replication_role`` to skip triggers either. Grants are applied by
``grants_apply`` after every ``migrate`` run as the owner, so tables added later are covered.
"""

from __future__ import annotations

import logging

import pgtrigger
from django.apps import apps
from django.db import connection
from psycopg import sql

log = logging.getLogger(__name__)

WRITE = "SELECT, INSERT, UPDATE, DELETE"
# pg_class.relkind → the word ALTER takes for it.
_RELATION_KINDS = {"r": "TABLE", "p": "TABLE", "S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
APPEND = "SELECT, INSERT"


def append_only_tables() -> list[str]:
    """Tables whose rows are never changed or deleted: every pghistory event model, and every model
    protected against update and delete by a trigger."""
    from pghistory.models import Event

    tables = set()
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        if issubclass(model, Event) and not model._meta.abstract:
            tables.add(model._meta.db_table)
            continue
        for trigger in getattr(model._meta, "triggers", []):
            if isinstance(trigger, pgtrigger.Protect) and _protects_update_and_delete(trigger):
                tables.add(model._meta.db_table)
    return sorted(tables)


def _protects_update_and_delete(trigger: pgtrigger.Protect) -> bool:
    operation = str(trigger.operation).upper()
    return "UPDATE" in operation and "DELETE" in operation


def role_exists(role: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        return cursor.fetchone() is not None


def grants_apply(app_role: str) -> list[str]:
    """Grant ``app_role`` what the application needs on every table and sequence of the schema, the
    trail append-only; returns the append-only tables. Run as the owner of the tables (migrations)."""
    append_only = append_only_tables()
    existing = set(connection.introspection.table_names())
    role = sql.Identifier(app_role)
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role).as_string(cursor.connection))
        cursor.execute(
            sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA public TO {}").format(sql.SQL(WRITE), role).as_string(cursor.connection)
        )
        cursor.execute(
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(role).as_string(cursor.connection)
        )
        for table in append_only:
            if table not in existing:
                continue
            cursor.execute(
                sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {} FROM {}")
                .format(sql.Identifier(table), role)
                .as_string(cursor.connection)
            )
        # Nothing anyone grants by hand later turns the role into more than it is.
        cursor.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}").format(role).as_string(cursor.connection))
    return append_only


def roles_create(*, owner: str, app_role: str) -> None:
    """Create both login roles (if missing) and give the database, its schema and every table of it
    to ``owner``. Needs a superuser; a managed PostgreSQL's administrator does the same by hand."""
    with connection.cursor() as cursor:
        for role in (owner, app_role):
            if not role_exists(role):
                cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)).as_string(cursor.connection))
        cursor.execute(
            sql.SQL("ALTER ROLE {} NOSUPERUSER NOCREATEROLE NOCREATEDB")
            .format(sql.Identifier(app_role))
            .as_string(cursor.connection)
        )
        owner_id = sql.Identifier(owner)
        cursor.execute("SELECT current_database()")
        database = cursor.fetchone()[0]
        cursor.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), owner_id).as_string(cursor.connection)
        )
        cursor.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(owner_id).as_string(cursor.connection))
        # Tables first: their identity sequences follow them (and cannot be given away on their own).
        for kinds in (("r", "p"), ("S", "v", "m")):
            cursor.execute(
                "SELECT c.relkind, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = ANY(%s) "
                "AND pg_get_userbyid(c.relowner) <> %s",
                [list(kinds), owner],
            )
            for relkind, name in cursor.fetchall():
                statement = sql.SQL("ALTER {} public.{} OWNER TO {}").format(
                    sql.SQL(_RELATION_KINDS[relkind]), sql.Identifier(name), owner_id
                )
                cursor.execute(statement.as_string(cursor.connection))
        # Functions (the audit triggers' own) belong to the owner too.
        cursor.execute(
            "SELECT 'ALTER FUNCTION ' || p.oid::regprocedure || ' OWNER TO ' || %s FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> %s",
            [sql.Identifier(owner).as_string(cursor.connection), owner],
        )
        for (statement,) in cursor.fetchall():
            cursor.execute(statement)


def grants_after_migrate(sender, **kwargs) -> None:
    """After ``migrate`` (run once per app; acts after the back office's): keep the application's role
    granted on what the migrations created, when it exists and migrations ran as another role."""
    from django.conf import settings

    if getattr(sender, "name", None) != "backoffice" or not settings.DATABASE_APP_ROLE:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        current = cursor.fetchone()[0]
    if current == settings.DATABASE_APP_ROLE or not role_exists(settings.DATABASE_APP_ROLE):
        return
    grants_apply(settings.DATABASE_APP_ROLE)
    log.info("granted %s its privileges (the trail append-only)", settings.DATABASE_APP_ROLE)
