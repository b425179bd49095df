"""The engine benchmark runs the real engine, checks it found exactly the injected set, leaves nothing behind.

No timing is asserted: the figures depend on the machine. The run forks child processes, so these tests
need committed data (transactional database).
"""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from reconciliation.devtools.benchmarks import engine as benchmarks_engine
from reconciliation.models import Channel, Discrepancy, PlatformTransaction, ReconciliationRun, StatementFile, StatementLine


def run_bench(*args: str) -> dict:
    out = io.StringIO()
    call_command("bench_reconcile", *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def nothing_left() -> bool:
    channel = Channel.objects.get(code="BENCHRC")
    return not any(
        model.objects.filter(channel=channel).exists()
        for model in (PlatformTransaction, StatementLine, StatementFile, ReconciliationRun, Discrepancy)
    )


@pytest.mark.django_db(transaction=True)
def test_rounds_find_exactly_the_injected_set_and_leave_nothing_behind():
    figures = run_bench("--transactions", "700,1400", "--orm-rows", "200")

    assert [r["transactions"] for r in figures["rounds"]] == [700, 1400]
    for r in figures["rounds"]:
        assert r["exact"] is True and r["found"] == r["injected"] > 0
        assert r["rows"] == r["transactions"] + r["lines"]
        for name in ("seconds", "rows_per_s", "peak_mb", "floor_seconds", "ratio_vs_floor", "orm_slower_per_row"):
            assert r[name] > 0, name
        assert r["ratio_vs_floor"] == pytest.approx(r["seconds"] / r["floor_seconds"], rel=0.05)
        assert r["peak_mb"] >= r["baseline_mb"]
    orm = figures["orm"]
    assert orm["transactions"] >= 199 and orm["found"] > 0 and orm["rows_per_s"] > 0
    assert nothing_left()
    assert Channel.objects.get(code="BENCHRC").is_active is False


@pytest.mark.django_db(transaction=True)
def test_an_engine_that_misses_a_difference_fails_the_command_and_still_cleans_up(monkeypatch):
    real = benchmarks_engine.run_execute

    def forgetful(*, run, now):
        run = real(run=run, now=now)
        forgotten = Discrepancy.objects.filter(run=run).order_by("id").first()
        Discrepancy.objects.filter(pk=forgotten.pk).update(match_key="forgotten")
        return run

    monkeypatch.setattr(benchmarks_engine, "run_execute", forgetful)  # the forked child inherits the patch
    with pytest.raises(CommandError, match=r"1 missed"):
        run_bench("--transactions", "500", "--orm-rows", "0")
    assert nothing_left()


@pytest.mark.django_db(transaction=True)
def test_keep_leaves_the_last_round_and_the_next_run_clears_it():
    first = run_bench("--transactions", "300", "--orm-rows", "0", "--keep")
    assert Discrepancy.objects.filter(channel__code="BENCHRC").count() == first["rounds"][0]["found"]
    run_bench("--transactions", "300", "--orm-rows", "0")
    assert nothing_left()


def test_sizes_must_be_counts():
    with pytest.raises(CommandError, match="every count must be at least 10"):
        call_command("bench_reconcile", "--transactions", "5")
    with pytest.raises(CommandError, match="give a count"):
        call_command("bench_reconcile", "--transactions", "a lot")
