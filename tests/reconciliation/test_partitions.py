"""Statement lines and fund movements are partitioned by business date (migration 0023): a day's rows in
its own partition once it exists (made by the intake or the beat), any other day's in the default one
until maintenance moves them, old days archived whole; the references into them, no longer foreign keys,
still refuse what a foreign key refused."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pgtrigger
import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from helpers import D, held_open, lines, movements, stored_discrepancy, take_in, txn, wechat_bill, wechat_rows

from reconciliation.models import Discrepancy, FundMovement, ItemBookedAlone, PlatformTransaction, StatementLine
from reconciliation.services.intake.transactions import TransactionInput, transactions_upsert
from reconciliation.services.partitions import (
    ARCHIVE_SCHEMA,
    PARTITIONED,
    RECENT_DAYS,
    REFERRED_BY,
    PartitionError,
    default_partition,
    partition_name,
    partitions_archive,
    partitions_ensure,
    partitions_maintain,
    partitions_of,
)

MISSING = 2**62


def _one(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _where(model, pk) -> str:
    """The partition holding the row."""
    return _one(f"SELECT tableoid::regclass::text FROM {model._meta.db_table} WHERE id = %s", [pk])[0]


def _contents(model, pks) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT t::text FROM {model._meta.db_table} AS t WHERE id = ANY(%s) ORDER BY id", [list(pks)])
        return cursor.fetchall()


@pytest.mark.django_db
@pytest.mark.parametrize("model", list(PARTITIONED))
def test_the_statement_tables_are_partitioned_by_business_date_with_a_default_partition(model):
    table = model._meta.db_table
    strategy, key = _one(
        """SELECT p.partstrat, a.attname FROM pg_partitioned_table AS p
           JOIN pg_attribute AS a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
           WHERE p.partrelid = %s::regclass""",
        [table],
    )
    assert (strategy, key) == ("r", "statement_date")
    assert partitions_of(model)[0].name == default_partition(model)
    primary = _one(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", [table]
    )[0]
    assert primary == "PRIMARY KEY (id, statement_date)"


@pytest.mark.django_db
def test_a_days_rows_move_into_its_partition_when_it_is_made_and_later_rows_go_straight_there(channel):
    early = lines(channel, D, {"amount": "10.00"}, {"amount": "20.00"})
    ids = list(early.lines.values_list("pk", flat=True))
    before = _contents(StatementLine, ids)
    assert {_where(StatementLine, pk) for pk in ids} == {default_partition(StatementLine)}

    assert partitions_ensure(StatementLine, [D]) == [D]
    assert partitions_ensure(StatementLine, [D]) == []  # made once
    assert {_where(StatementLine, pk) for pk in ids} == {partition_name(StatementLine, D)}
    assert _contents(StatementLine, ids) == before  # same ids, same values

    later = lines(channel, D, {"amount": "30.00"}).lines.get()
    assert _where(StatementLine, later.pk) == partition_name(StatementLine, D)
    other_day = lines(channel, D + timedelta(days=1), {"amount": "40.00"}).lines.get()
    assert _where(StatementLine, other_day.pk) == default_partition(StatementLine)


@pytest.mark.django_db
def test_rows_in_a_day_partition_stay_immutable_and_must_belong_to_a_file(channel):
    partitions_ensure(StatementLine, [D])
    line = lines(channel, D, {"amount": "10.00"}).lines.get()
    with pytest.raises(Exception, match="Cannot update"), transaction.atomic():
        StatementLine.objects.filter(pk=line.pk).update(amount=11)
    with pytest.raises(IntegrityError, match="must belong to an existing statement file"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO reconciliation_statementline (file_id, channel_id, statement_date, line_no, channel_txn_no,
                    txn_no, line_type, type_code, status, amount, fee, currency, refund_no, original_channel_txn_no,
                    original_txn_no, batch_ref, raw)
                    SELECT {MISSING}, channel_id, statement_date, 99, '', '', line_type, '', status, amount, fee, currency,
                    '', '', '', '', raw FROM reconciliation_statementline WHERE id = %s""",
                [line.pk],
            )


@pytest.mark.django_db
def test_parsing_a_bill_makes_its_days_partitions_and_writes_its_lines_there(wx):
    day = D
    statement_file = take_in(wx, wechat_bill(wechat_rows(3)))
    assert statement_file.status == "PARSED", statement_file.errors
    made = {p.day for p in partitions_of(StatementLine)}
    assert {day - timedelta(days=1), day, day + timedelta(days=1)} <= made
    assert {_where(StatementLine, pk) for pk in statement_file.lines.values_list("pk", flat=True)} == {
        partition_name(StatementLine, day)
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("referring", "column", "referred"), REFERRED_BY, ids=lambda v: getattr(v, "__name__", v))
def test_a_reference_to_a_statement_row_that_does_not_exist_is_refused_and_a_referenced_row_cannot_go(
    channel, referring, column, referred
):
    if referred is StatementLine:
        row = lines(channel, D, {"amount": "10.00"}).lines.get()
    else:
        row = movements(channel, D, {"amount": "10.00"}).movements.get()
    field = column.removesuffix("_id")
    if referring is Discrepancy:
        holder = stored_discrepancy(channel, "10.00", **{field: row})
        with pytest.raises(IntegrityError, match=f"refers to {referred._meta.db_table} id {MISSING}"), transaction.atomic():
            stored_discrepancy(channel, "10.00", **{column: MISSING})
    elif referring is ItemBookedAlone:
        holder = ItemBookedAlone.objects.create(
            channel=channel, txn=txn(channel, "T1", "10.00"), line=row, batch_no="B1", business_date=D, line_date=D
        )
        with pytest.raises(IntegrityError, match=f"refers to {referred._meta.db_table} id {MISSING}"), transaction.atomic():
            ItemBookedAlone.objects.create(
                channel=channel, txn=txn(channel, "T2", "10.00"), line_id=MISSING, batch_no="B1", business_date=D, line_date=D
            )
    else:  # our record supplemented from a line: migration 0022's check
        holder = txn(channel, "T1", "10.00", source_line=row)
    # An update to nothing is refused as an insert is.
    with pytest.raises(IntegrityError, match=f"{referred._meta.db_table} id {MISSING}, which does not exist"):
        with transaction.atomic():
            referring.objects.filter(pk=holder.pk).update(**{column: MISSING})
    # Deleting the row referred to, even by SQL that passes Django and the rows' own immutability.
    with pgtrigger.ignore(f"reconciliation.{referred.__name__}:rows_are_immutable"):
        with (
            pytest.raises(IntegrityError, match=f"{referred._meta.db_table} id {row.pk} is referred to by"),
            transaction.atomic(),
        ):
            referred.objects.filter(pk=row.pk)._raw_delete(connection.alias)
    assert referred.objects.filter(pk=row.pk).exists()


@pytest.mark.django_db
def test_maintenance_makes_the_coming_week_and_moves_recent_stray_rows_but_leaves_old_ones(channel):
    today = D + timedelta(days=3)
    recent = lines(channel, D, {"amount": "10.00"}).lines.get()
    old_day = today - timedelta(days=RECENT_DAYS + 5)
    old = lines(channel, old_day, {"amount": "20.00"}).lines.get()
    moved = movements(channel, D, {"amount": "5.00"}).movements.get()

    result = partitions_maintain(today=today, ahead=7)

    week = {today + timedelta(days=n) for n in range(-1, 8)}
    assert week | {D} == set(result.created[StatementLine._meta.db_table])
    assert week | {D} == set(result.created[FundMovement._meta.db_table])
    assert _where(StatementLine, recent.pk) == partition_name(StatementLine, D)
    assert _where(FundMovement, moved.pk) == partition_name(FundMovement, D)
    assert _where(StatementLine, old.pk) == default_partition(StatementLine)
    assert partitions_maintain(today=today, ahead=7).summary() == "partitions created: 0"


@pytest.mark.django_db
def test_archiving_detaches_old_days_whole_and_keeps_the_rows_still_referred_to(channel):
    today = D
    old_day = today - timedelta(days=RECENT_DAYS + 30)
    partitions_ensure(StatementLine, [old_day])
    statement_file = lines(channel, old_day, {"amount": "10.00"}, {"amount": "20.00"}, {"amount": "30.00"})
    kept, *gone = statement_file.lines.order_by("line_no")
    kept_before = _contents(StatementLine, [kept.pk])
    discrepancy = stored_discrepancy(channel, "10.00", day=old_day, statement_line=kept)

    with pytest.raises(PartitionError, match="not archived"):
        partitions_archive(StatementLine, before=today, today=today)
    archived = partitions_archive(StatementLine, before=old_day + timedelta(days=1), today=today)

    name = partition_name(StatementLine, old_day)
    assert [(a.day, a.archived_as, a.rows, a.kept) for a in archived] == [(old_day, f"{ARCHIVE_SCHEMA}.{name}", 3, 1)]
    assert old_day not in {p.day for p in partitions_of(StatementLine)}
    assert _one(f"SELECT count(*) FROM {ARCHIVE_SCHEMA}.{name}")[0] == 3
    # What the discrepancy shows is still there, unchanged; the rest left the live table.
    assert _contents(StatementLine, [kept.pk]) == kept_before
    assert Discrepancy.objects.select_related("statement_line").get(pk=discrepancy.pk).statement_line.amount == 10
    assert not StatementLine.objects.filter(pk__in=[line.pk for line in gone]).exists()

    # The same day archived again (a late file made its partition anew) does not overwrite the first.
    partitions_ensure(StatementLine, [old_day])
    lines(channel, old_day, {"amount": "40.00"})
    again = partitions_archive(StatementLine, before=old_day + timedelta(days=1), today=today)
    assert [a.archived_as for a in again] == [f"{ARCHIVE_SCHEMA}.{name}_2"]


@pytest.mark.django_db
def test_the_command_lists_maintains_and_archives(channel, capsys):
    lines(channel, D, {"amount": "10.00"})
    call_command("partitions", "maintain", "--json")
    made = json.loads(capsys.readouterr().out)
    assert D.isoformat() in made[StatementLine._meta.db_table]
    call_command("partitions", "list", "--table", "statementline", "--json")
    listed = json.loads(capsys.readouterr().out)[StatementLine._meta.db_table]
    assert listed[0]["day"] == "default"
    assert D.isoformat() in {entry["day"] for entry in listed}
    call_command("partitions", "archive", "--before", (timezone.localdate() - timedelta(days=400)).isoformat())
    assert capsys.readouterr().out.strip() == "nothing to archive"


@pytest.mark.django_db(transaction=True)
def test_a_partition_that_would_wait_for_a_lock_is_left_for_later_and_the_rows_go_to_the_default(channel):
    """A long transaction reading the default partition holds it: making a partition gives up after its lock
    timeout rather than stall the parse, and the day's rows are written to the default partition."""
    day = D + timedelta(days=800)

    def reader():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {default_partition(StatementLine)}")

    with held_open(reader):
        assert partitions_ensure(StatementLine, [day], lock_timeout="200ms") == []
        line = lines(channel, day, {"amount": "10.00"}).lines.get()
        assert _where(StatementLine, line.pk) == default_partition(StatementLine)
        assert _one("SELECT current_setting('lock_timeout')")[0] == "0"  # the caller's setting is back
    # The reader gone, the partition is made and the row moves into it (the fixture
    # _day_partitions_left_as_found drops it after the test).
    assert partitions_ensure(StatementLine, [day]) == [day]
    assert _where(StatementLine, line.pk) == partition_name(StatementLine, day)


def _estimated_rows(table: str) -> float:
    return _one("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])[0]


@pytest.mark.django_db
def test_a_large_write_leaves_fresh_statistics_for_the_run_that_follows(wx, monkeypatch):
    """A parse of many lines analyses its day's partition, and a large delivery of our records their table,
    before their transactions end: the run planned at the commit knows how many rows there are."""
    monkeypatch.setattr("reconciliation.services.intake.statements.ANALYZE_AFTER_ROWS", 3)
    monkeypatch.setattr("reconciliation.services.intake.transactions.ANALYZE_AFTER_ROWS", 3)
    partitions_ensure(StatementLine, [D])
    assert _estimated_rows(partition_name(StatementLine, D)) <= 0  # never analysed
    statement_file = take_in(wx, wechat_bill(wechat_rows(5)))
    assert statement_file.status == "PARSED", statement_file.errors
    assert _estimated_rows(partition_name(StatementLine, D)) == 5

    before = _estimated_rows("reconciliation_platformtransaction")
    transactions_upsert(
        inputs=[
            TransactionInput(
                ref=str(n),
                txn_no=f"A{n}",
                channel_code=wx.code,
                business_type="COLLECTION",
                amount=Decimal("6.00"),
                currency="CNY",
                status="SUCCESS",
                created_at=timezone.now(),
                business_date=D,
            )
            for n in range(4)
        ],
        source="API",
        now=timezone.now(),
    )
    assert _estimated_rows("reconciliation_platformtransaction") != before
    assert _estimated_rows("reconciliation_platformtransaction") == PlatformTransaction.objects.count()


@pytest.mark.django_db
def test_only_the_daily_tables_are_analysed_through_the_owners_function():
    with pytest.raises(Exception, match="is not a day partition"), transaction.atomic():
        _one("SELECT daily_rows_analyze('reconciliation_channel'::regclass)")
    with pytest.raises(Exception, match="is not a day partition"), transaction.atomic():
        _one("SELECT daily_rows_analyze('reconciliation_statementline'::regclass)")  # the whole table: every day
