"""What every benchmark shares: its failure, stage reports, work in a forked child (its own time and peak
memory), memory and machine notes, a quiet broker, and the removal of what a benchmark wrote on its channel."""

from __future__ import annotations

import multiprocessing
import os
import platform
import resource
import sys
import time
import traceback
from argparse import ArgumentTypeError
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import pgtrigger
from django.apps import apps
from django.core.files.storage import Storage
from django.db import DatabaseError, connection, connections, transaction

from reconciliation.models import Channel

StageReport = Callable[[str], None]


class BenchmarkFailed(Exception):
    """The benchmark could not run, or what it measured did not arrive intact in the database."""


def count_type(minimum: int, unit: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number (1_000_000 and 1,000,000 too) of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise ArgumentTypeError(f"{text!r} is not a count") from None
        if value < minimum:
            raise ArgumentTypeError(f"{text}: at least {minimum}{f' {unit}' if unit else ''}")
        return value

    return parse


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tasks_go_nowhere() -> None:
    """Publish this process's Celery tasks to an in-process memory broker that nobody consumes.

    A parsed business file requests its date's reconciliation run when the parse commits. Publishing
    that request is part of the intake and stays timed; running it is not: no worker (and no eager
    execution, as in the tests) may reconcile the benchmark's synthetic data while it is measured or
    after it is removed. Only this forked child is changed; the environment variables are set because
    Celery prefers them to its settings.
    """
    from celery import current_app

    os.environ["CELERY_BROKER_URL"] = os.environ["CELERY_BROKER_WRITE_URL"] = "memory://localhost/"
    current_app.conf.task_always_eager = False


def checkpoint() -> bool:
    """Write out the dirty pages a phase leaves behind, so that the next timed phase does not pay for
    them. A checkpoint that a phase's own WAL triggers stays in its time. Needs a superuser or the
    pg_checkpoint role; without it the phases start as they find the server (reported)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # a savepoint inside a transaction
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        return False
    return True


def machine_notes() -> dict:
    cpu_model = ram_mb = None
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu_model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), None)
        with open("/proc/meminfo") as meminfo:
            ram_mb = next((int(line.split()[1]) // 1024 for line in meminfo if line.startswith("MemTotal:")), None)
    except OSError:
        pass  # not Linux: the figures stand without these notes
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
    database = connection.settings_dict
    host = database.get("HOST") or "local socket"
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "ram_mb": ram_mb,
        "postgresql_version": server_version,
        "python_version": platform.python_version(),
        "database": f"{host}:{database.get('PORT') or 5432}/{database.get('NAME')}",
        # A host name or address is TCP; none, or a directory, is the server's Unix socket.
        "connection": "Unix socket" if host == "local socket" or str(host).startswith("/") else f"TCP to {host}",
    }


# --- work in forked children, so each peak memory figure is that work's own ------------------------


def _child(pipe: Connection, work: Callable[[], dict]) -> None:
    try:
        tasks_go_nowhere()
        baseline_kb = rss_kb()
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        figures = work()
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        pipe.send(
            {
                **figures,
                "seconds": seconds,
                "baseline_kb": baseline_kb,
                "peak_kb": after.ru_maxrss,
                "cpu_seconds": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            }
        )
    except BenchmarkFailed as exc:
        pipe.send({"error": str(exc)})
    except BaseException as exc:  # noqa: B036 - an interrupted child must still answer its parent
        pipe.send({"error": "".join(traceback.format_exception(exc))})
    finally:
        connections.close_all()
        pipe.close()


def in_child(work: Callable[[], dict], *, name: str) -> dict:
    """Run ``work`` in a forked child; return its figures plus seconds, peak and baseline RSS in MB and the
    child's CPU seconds. The child's Celery tasks go nowhere (``tasks_go_nowhere``)."""
    connections.close_all()  # the child opens its own connection: a socket shared across fork breaks both
    sys.stdout.flush()
    sys.stderr.flush()
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_child, name=name, daemon=True, kwargs={"pipe": sending, "work": work})
    child.start()
    sending.close()
    try:
        outcome = receiving.recv()
    except EOFError:
        child.join()
        raise BenchmarkFailed(f"the {name} process ended without a result (exit code {child.exitcode})") from None
    except BaseException:
        child.terminate()  # its connection closes and PostgreSQL rolls its transaction back
        child.join()
        raise
    finally:
        receiving.close()
    child.join()
    if "error" in outcome:
        raise BenchmarkFailed(outcome["error"])
    outcome["peak_mb"], outcome["baseline_mb"] = outcome.pop("peak_kb") / 1024, outcome.pop("baseline_kb") / 1024
    return outcome


def backend_peak_mb() -> float | None:
    """Peak resident memory of this connection's PostgreSQL backend, when the server runs on this
    machine and we may read its /proc entry (it counts the shared buffers the backend touched)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# --- removing what a benchmark wrote on its own channel ---------------------------------------------

# Every protecting trigger a removal passes, for its one transaction only (``pgtrigger.ignore`` sets a
# transaction-local flag): statement rows are immutable, files undeletable, vouchers and entries final,
# histories and receipts append-only. Foreign keys and PROTECT stay on.
_PROTECTIONS = (
    "reconciliation.StatementLine:rows_are_immutable",
    "reconciliation.FundMovement:rows_are_immutable",
    "reconciliation.StatementFile:statementfile_no_delete",
    "reconciliation.Discrepancy:delete_delete",
    "reconciliation.DiscrepancyEvent:append_only",
    "reconciliation.WorkflowEvent:events_are_append_only",
    "reconciliation.RunFinding:findings_are_append_only",
    "reconciliation.PlatformTransactionEvent:append_only",
    "reconciliation.TransactionReceipt:receipts_are_append_only",
    "accounts.Voucher:voucher_decided_once",
    "accounts.Entry:entries_are_written_once",
    "accounts.VoucherEvent:append_only",
)


def _table(label: str) -> str:
    return apps.get_model(label)._meta.db_table


def channel_data_remove(*, channel: Channel) -> int:
    """Remove everything a benchmark wrote on its dedicated channel; returns how many statement rows,
    fund movements and transactions went.

    Runs, discrepancies (and their findings, events and history), statement files with their lines,
    movements and stored raw files, our transactions (with their history and the deliveries that brought
    only them), and the vouchers its runs posted: those with an entry on the channel's clearing account
    or on the deposit account of a bank account at the channel's own bank (only benchmarks have such
    channels). A developer's tool run as the owner: the application's role may not delete any of it.
    Plain SQL: the ORM's delete would load millions of rows to look for references first. The channel,
    its bank, accounts, fee models and ledger accounts stay for the next run.
    """
    files = apps.get_model("reconciliation.StatementFile")
    storage = files._meta.get_field("raw_file").storage
    raw_files = [
        name
        for name in files.objects.filter(channel=channel).values_list("raw_file", flat=True)
        if name.startswith(f"statements/{channel.code}/")  # not the made-up names of simulated days
    ]
    ledger_codes = [f"1122.{channel.code}"] + [
        f"1002.{channel.bank.code}.{number}"
        for number in apps.get_model("reconciliation.BankAccount")
        .objects.filter(bank=channel.bank_id)
        .values_list("account_no", flat=True)
    ]
    pk = [channel.pk]
    removed = 0
    with transaction.atomic(), pgtrigger.ignore(*_PROTECTIONS), connection.cursor() as cursor:

        def delete(table: str, where: str, params: list) -> int:
            cursor.execute(f"DELETE FROM {_table(table)} {where}", params)
            return cursor.rowcount

        def ids(sql: str, params: list) -> list[int]:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]

        vouchers = ids(
            f"SELECT DISTINCT e.voucher_id FROM {_table('accounts.Entry')} e "
            f"JOIN {_table('accounts.LedgerAccount')} a ON a.id = e.ledger_account_id WHERE a.code = ANY(%s)",
            [ledger_codes],
        )
        delete("accounts.VoucherEvent", "WHERE pgh_obj_id = ANY(%s)", [vouchers])
        delete("accounts.Entry", "WHERE voucher_id = ANY(%s)", [vouchers])
        delete("accounts.Voucher", "WHERE id = ANY(%s)", [vouchers])
        # Runs and what they found.
        discrepancies = f"(SELECT id FROM {_table('reconciliation.Discrepancy')} WHERE channel_id = %s)"
        runs = f"(SELECT id FROM {_table('reconciliation.ReconciliationRun')} WHERE channel_id = %s)"
        delete("reconciliation.WorkflowEvent", f"WHERE discrepancy_id IN {discrepancies}", pk)
        delete("reconciliation.RunFinding", f"WHERE run_id IN {runs}", pk)
        for table in ("DiscrepancyEvent", "Discrepancy", "UnlistedFailure", "ItemBookedAlone", "ReconciliationRun"):
            delete(f"reconciliation.{table}", "WHERE channel_id = %s", pk)
        # Our transactions, their history, and the deliveries that brought nothing else.
        transactions = _table("reconciliation.PlatformTransaction")
        receipts = ids(f"SELECT DISTINCT receipt_id FROM {transactions} WHERE channel_id = %s AND receipt_id IS NOT NULL", pk)
        ours = f"(SELECT id FROM {transactions} WHERE channel_id = %s)"
        delete("reconciliation.PlatformTransactionEvent", f"WHERE pgh_obj_id IN {ours}", pk)
        removed += delete("reconciliation.PlatformTransaction", "WHERE channel_id = %s", pk)
        delete(
            "reconciliation.TransactionReceipt",
            f"r WHERE r.id = ANY(%s) AND NOT EXISTS (SELECT 1 FROM {transactions} p WHERE p.receipt_id = r.id)",
            [receipts],
        )
        # The channel's files and their rows.
        removed += delete("reconciliation.StatementLine", "WHERE channel_id = %s", pk)
        removed += delete("reconciliation.FundMovement", "WHERE channel_id = %s", pk)
        delete("reconciliation.StatementFile", "WHERE channel_id = %s", pk)
    # The stored raw files go only once the rows that name them are gone.
    for name in raw_files:
        storage.delete(name)
        remove_empty_folders(storage, name, top=f"statements/{channel.code}")
    return removed


def remove_empty_folders(storage: Storage, name: str, *, top: str) -> None:
    """Remove the folders left empty above the stored file ``name``, up to and including ``top`` (a file
    system storage keeps them)."""
    try:
        top_path = Path(storage.path(top))
        folder = Path(storage.path(name)).parent
    except NotImplementedError:
        return  # an object storage has no folders
    while folder.is_relative_to(top_path):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty: a kept run's files live there
        folder = folder.parent
