"""The day partitions of the statement tables: creating them ahead, moving stray rows into them, and
archiving old ones.

Statement lines and fund movements are partitioned by range of their business date
(``statement_date``), one partition per day, plus a default partition that takes a row of a day without
its own (migration ``0023_statement_rows_partitioned``). A day's intake and runs then touch that day's
partition only, and a month can leave the live tables whole.

- ``partitions_ensure`` creates a day's partition (as a plain table, filled with the day's rows from the
  default partition, then attached: PostgreSQL builds its indexes in one sort each). It never waits long:
  under another writer's lock it gives up (``lock_timeout``) and the day's rows go to the default partition
  until the next maintenance moves them.
- ``partitions_maintain`` (the housekeeping beat, every six hours) creates the coming days' partitions and moves
  recent days' rows out of the default partition.
- ``partitions_archive`` detaches the days before a date into the ``archive`` schema, where they can be
  dumped and dropped; the few rows a discrepancy or one of our records still refers to are kept in the live
  table (moved to its default partition) so that nothing the product shows loses its line.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import OperationalError, connection, models, transaction
from django.utils.translation import gettext as _

from reconciliation.models import Discrepancy, FundMovement, ItemBookedAlone, PlatformTransaction, StatementLine

log = logging.getLogger(__name__)

# The partitioned tables, by model: the column they are partitioned by.
PARTITIONED: dict[type[models.Model], str] = {StatementLine: "statement_date", FundMovement: "statement_date"}
# What refers to their rows (checked per statement, migration 0023): (model, column, partitioned model).
REFERRED_BY: tuple[tuple[type[models.Model], str, type[models.Model]], ...] = (
    (Discrepancy, "statement_line_id", StatementLine),
    (Discrepancy, "fund_movement_id", FundMovement),
    (ItemBookedAlone, "line_id", StatementLine),
    (PlatformTransaction, "source_line_id", StatementLine),
)
ARCHIVE_SCHEMA = "archive"
# How long a partition's creation waits for another transaction's lock before the rows go to the default
# partition instead (a parse never stalls behind a long report).
ENSURE_LOCK_TIMEOUT = "2s"
# Maintenance moves rows out of the default partition for days this recent only: older rows there are those
# an archive kept (still referred to) or a very late file's, and stay where they are.
RECENT_DAYS = 62

_BOUND = re.compile(r"FOR VALUES FROM \('([0-9-]+)'\) TO \('([0-9-]+)'\)")


class PartitionError(Exception):
    """A partition operation refused, with the reason for the operator."""


@dataclass(frozen=True)
class Partition:
    name: str
    day: date | None  # None: the default partition
    rows: int  # PostgreSQL's estimate (exact after ANALYZE)


def _table(model: type[models.Model]) -> str:
    if model not in PARTITIONED:
        raise PartitionError(_("%(table)s is not partitioned") % {"table": model._meta.db_table})
    return model._meta.db_table


def partition_name(model: type[models.Model], day: date) -> str:
    return f"{_table(model)}_p{day:%Y%m%d}"


def default_partition(model: type[models.Model]) -> str:
    return f"{_table(model)}_default"


def partitions_of(model: type[models.Model]) -> list[Partition]:
    """The table's partitions, the default one first, then by day."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0)::bigint
               FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
               WHERE i.inhparent = %s::regclass""",
            [_table(model)],
        )
        found = []
        for name, bound, rows in cursor.fetchall():
            matched = _BOUND.match(bound)
            found.append(Partition(name, date.fromisoformat(matched[1]) if matched else None, rows))
    return sorted(found, key=lambda p: (p.day is not None, p.day or date.min))


def _days_with_partitions(model: type[models.Model]) -> set[date]:
    return {p.day for p in partitions_of(model) if p.day is not None}


def _create(model: type[models.Model], day: date) -> bool:
    """One day's partition, in the caller's transaction: the day's rows move out of the default partition
    (same ids), then the table is attached. False if another transaction created it first. The database
    function does it as the tables' owner (migration 0023): the application's role owns nothing."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_partition_make(%s::regclass, %s)", [_table(model), day])
        moved = cursor.fetchone()[0]
    if moved is None:
        return False
    log.info("partition %s created (%d rows moved from %s)", partition_name(model, day), moved, default_partition(model))
    return True


def partitions_ensure(model: type[models.Model], days, *, lock_timeout: str = ENSURE_LOCK_TIMEOUT) -> list[date]:
    """Create the partitions of ``days`` that do not exist yet; returns the days created. A day whose
    partition cannot be made within ``lock_timeout`` (another transaction holds the table) is skipped: its
    rows go to the default partition and the next maintenance moves them."""
    missing = sorted(set(days) - _days_with_partitions(model))
    if not missing:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        previous = cursor.fetchone()[0]
    created = []
    for day in missing:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('lock_timeout', %s, true)", [lock_timeout])
                if _create(model, day):
                    created.append(day)
        except OperationalError as exc:  # lock_timeout: LockNotAvailable
            log.warning("partition %s not created now: %s", partition_name(model, day), exc)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
    return created


# A write of at least this many rows into one day analyses what it wrote before its transaction ends.
ANALYZE_AFTER_ROWS = 10_000


def daily_rows_analyze(model: type[models.Model], days=()) -> None:
    """Fresh statistics for what was just written: the day partitions of ``days`` (their default partition for
    a day without one), or our records' table (``PlatformTransaction``, not partitioned). Autovacuum would
    analyse them within minutes; a run started at the commit plans with these instead of guessing a million
    new rows to be one (a nested loop over them: minutes). Done by the owner's function (migration 0023)."""
    if model is PlatformTransaction:
        targets = [model._meta.db_table]
    else:
        have = {p.day for p in partitions_of(model)}
        targets = sorted({partition_name(model, day) if day in have else default_partition(model) for day in days})
    with connection.cursor() as cursor:
        for target in targets:
            cursor.execute("SELECT daily_rows_analyze(%s::regclass)", [target])


@dataclass(frozen=True)
class MaintenanceResult:
    created: dict[str, list[date]]

    def summary(self) -> str:
        made = sum(len(days) for days in self.created.values())
        return f"partitions created: {made}"


def partitions_maintain(*, today: date, ahead: int = 7) -> MaintenanceResult:
    """Every partitioned table: the partitions of yesterday to ``ahead`` days on, and of every recent day
    that has rows in the default partition."""
    created = {}
    for model, key in PARTITIONED.items():
        days = {today + timedelta(days=n) for n in range(-1, ahead + 1)}
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT {key} FROM {default_partition(model)} WHERE {key} >= %s",
                [today - timedelta(days=RECENT_DAYS)],
            )
            days |= {row[0] for row in cursor.fetchall()}
        created[model._meta.db_table] = partitions_ensure(model, days)
    return MaintenanceResult(created)


@dataclass(frozen=True)
class ArchivedDay:
    table: str
    day: date
    archived_as: str
    rows: int
    kept: int  # rows still referred to, kept in the live table


def _referred_rows_keep(model: type[models.Model], detached: str) -> int:
    """Copy the rows of the ``detached`` partition that something refers to back into the live table (its
    default partition takes them: their day has no partition any more), with their ids."""
    refs = " UNION ".join(
        f"SELECT {column} FROM {referring._meta.db_table} WHERE {column} IS NOT NULL"
        for referring, column, referred in REFERRED_BY
        if referred is model
    )
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {_table(model)} SELECT * FROM {detached} WHERE id IN ({refs})")
        return cursor.rowcount


@transaction.atomic
def partitions_archive(model: type[models.Model], *, before: date, today: date) -> list[ArchivedDay]:
    """Detach every day partition of ``model`` before ``before`` into the ``archive`` schema (renamed
    ``<partition>_<n>`` if that day was archived before), each whole. The rows still referred to stay in the
    live table too, in its default partition. Days newer than ``RECENT_DAYS`` before ``today`` are refused."""
    if before > today - timedelta(days=RECENT_DAYS):
        raise PartitionError(
            _("days newer than %(days)d days are not archived (they may still be run or resolved)") % {"days": RECENT_DAYS}
        )
    table = _table(model)
    archived = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_has_role(current_user, relowner, %s) FROM pg_class WHERE oid = %s::regclass", ["USAGE", table])
        if not cursor.fetchone()[0]:
            # Taking rows out of the live tables is the owner's, as migrations are (docs/operations.md).
            raise PartitionError(
                _("archiving needs the tables' owner: run it with DATABASE_URL set to the owner's login (DATABASE_OWNER_URL)")
            )
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {ARCHIVE_SCHEMA}")
        for partition in partitions_of(model):
            if partition.day is None or partition.day >= before:
                continue
            cursor.execute(f"SELECT count(*) FROM {partition.name}")
            rows = cursor.fetchone()[0]
            cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {partition.name}")
            kept = _referred_rows_keep(model, partition.name)
            target, n = partition.name, 1
            while True:
                cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{ARCHIVE_SCHEMA}.{target}"])
                if not cursor.fetchone()[0]:
                    break
                n += 1
                target = f"{partition.name}_{n}"
            if target != partition.name:
                # Its indexes are named after it too, and the first archive of the day holds those names.
                cursor.execute(
                    "SELECT c.relname FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid "
                    "WHERE i.indrelid = %s::regclass",
                    [partition.name],
                )
                for (index,) in cursor.fetchall():
                    renamed = (target + index.removeprefix(partition.name))[:63]
                    cursor.execute(f'ALTER INDEX "{index}" RENAME TO "{renamed}"')
                cursor.execute(f"ALTER TABLE {partition.name} RENAME TO {target}")
            cursor.execute(f"ALTER TABLE {target} SET SCHEMA {ARCHIVE_SCHEMA}")
            archived.append(ArchivedDay(table, partition.day, f"{ARCHIVE_SCHEMA}.{target}", rows, kept))
            log.info("partition %s archived as %s.%s (%d rows, %d kept)", partition.name, ARCHIVE_SCHEMA, target, rows, kept)
    return archived
