"""The history benchmark makes its days through the engine, measures the same day without and with them,
times the screens against gunicorn, keeps the history for the next run and removes it when asked.

No timing is asserted: the figures depend on the machine. The steps run in forked child processes and a
gunicorn of their own, so these tests need committed data (transactional database).
"""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from reconciliation.devtools.benchmarks import history as benchmarks_history
from reconciliation.devtools.benchmarks.engine import DIFFERENCE_RATE
from reconciliation.devtools.benchmarks.queue import TARGET_P95_MS
from reconciliation.models import (
    Channel,
    Discrepancy,
    PlatformTransaction,
    ReconciliationRun,
    RunStatus,
    StatementLine,
)

STEPS = {"import_transactions", "import_statement", "stage1", "stage2", "imports_and_stage1"}


@pytest.fixture
def var_dirs(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VAR_DIR = tmp_path / "var"
    return tmp_path


def run_bench(*args: str) -> dict:
    out = io.StringIO()
    call_command(
        "bench_history",
        *args,
        "--requests",
        "2",
        "--concurrency",
        "2",
        "--workers",
        "1",
        "--json",
        stdout=out,
        stderr=io.StringIO(),
    )
    return json.loads(out.getvalue())


def on_history(model) -> int:
    return model.objects.filter(channel__code=benchmarks_history.HISTORY_BENCH_CODE).count()


@pytest.mark.django_db(transaction=True)
def test_the_history_is_made_by_the_engine_the_day_compared_and_the_screens_timed(var_dirs):
    figures = run_bench("--days", "2", "--lines", "300")

    # Two days of history, oldest first, each reconciled by a stage-1 run that succeeded and found differences.
    made = figures["history"]["made"]
    assert [row["business_date"] for row in made] == sorted(row["business_date"] for row in made)
    assert len(made) == 2 and all(row["discrepancies"] > 0 and row["stage1_seconds"] > 0 for row in made)
    history = figures["history"]
    assert history["days"] == 2 and history["statement_lines"] == on_history(StatementLine)
    # About 300 lines a day: a day's injected differences add or take away a line here and there.
    assert abs(history["statement_lines"] - 600) <= 600 * DIFFERENCE_RATE + 2
    assert history["transactions"] == on_history(PlatformTransaction)
    assert history["discrepancies"] == on_history(Discrepancy) == sum(row["discrepancies"] for row in made)
    runs = ReconciliationRun.objects.filter(channel__code=benchmarks_history.HISTORY_BENCH_CODE)
    assert sorted(runs.values_list("status", flat=True)) == [RunStatus.SUCCEEDED] * 2
    # The same day, verified both times, without and with the history.
    for key in ("day_without_history", "day_with_history"):
        day = figures[key]
        assert day["verified"]["stage1"]["found"] == day["generated"]["injected"]
    assert set(figures["compared"]) == STEPS
    for row in figures["compared"].values():
        assert row["ratio"] == round(row["history_seconds"] / row["empty_seconds"], 3)
    # Every screen answered every request, and the figures are whole.
    pages = figures["pages"]
    assert pages["target_p95_ms"] == TARGET_P95_MS
    assert len(pages["scenarios"]) == 10
    assert all(row["requests"] == 2 and row["errors"] == 0 and row["p95_ms"] > 0 for row in pages["scenarios"])
    assert pages["worst_p95_ms"] == max(row["p95_ms"] for row in pages["scenarios"])
    # The measured day left nothing behind; the history stays, switched off again.
    assert not PlatformTransaction.objects.filter(channel__code="BENCHDAY").exists()
    assert not Channel.objects.get(code=benchmarks_history.HISTORY_BENCH_CODE).is_active

    # A second run finds the history whole: it makes nothing, and has no day without history to compare.
    again = run_bench("--days", "2", "--lines", "300")
    assert again["history"]["made"] == [] and again["history"]["statement_lines"] == history["statement_lines"]
    assert again["day_without_history"] is None and again["compared"] == {}
    assert again["day_with_history"]["verified"]["stage1"]["found"] == again["day_with_history"]["generated"]["injected"]

    # A history of fewer lines than asked for is refused, naming the way out.
    with pytest.raises(CommandError, match="--remove"):
        run_bench("--days", "2", "--lines", "400", "--no-baseline")

    call_command("bench_history", "--remove", stderr=io.StringIO())
    assert on_history(StatementLine) == on_history(PlatformTransaction) == on_history(Discrepancy) == 0
    assert not ReconciliationRun.objects.filter(channel__code=benchmarks_history.HISTORY_BENCH_CODE).exists()
