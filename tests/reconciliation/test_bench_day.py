"""The whole-day benchmark runs both imports and both stages for real, checks they found exactly what was
injected, sets them against the same run's floor and leaves nothing behind.

No timing is asserted: the figures depend on the machine. The steps run in forked child processes, so these
tests need committed data (transactional database).
"""

import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Voucher
from reconciliation.devtools.benchmarks import day as benchmarks_day
from reconciliation.devtools.benchmarks.common import channel_data_remove
from reconciliation.models import (
    Channel,
    Discrepancy,
    FundMovement,
    PlatformTransaction,
    ReconciliationRun,
    RunStage,
    StatementFile,
    StatementLine,
    TransactionReceipt,
)

STEPS = ["import_transactions", "import_statement", "stage1", "stage2"]


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def run_bench(*args: str) -> dict:
    out = io.StringIO()
    call_command("bench_day", *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def left_behind(media_root) -> dict:
    channel = Channel.objects.get(code=benchmarks_day.DAY_BENCH_CODE)
    found = {
        model.__name__: model.objects.filter(channel=channel).count()
        for model in (PlatformTransaction, StatementFile, StatementLine, FundMovement, ReconciliationRun, Discrepancy)
    }
    found["Voucher"] = Voucher.objects.filter(entries__ledger_account__code=f"1122.{channel.code}").count()
    found["TransactionReceipt"] = TransactionReceipt.objects.count()
    found["stored files"] = len([path for path in media_root.rglob("*") if path.is_file()])
    return {name: count for name, count in found.items() if count}


@pytest.mark.django_db(transaction=True)
def test_a_small_day_is_imported_reconciled_verified_and_removed(media_root):
    figures = run_bench("--lines", "2000")

    generated, verified = figures["generated"], figures["verified"]
    # Every stage-1 type was injected, and stage 1 found exactly those, type by type.
    assert set(generated["injected_by_type"]) == {str(kind) for kind in benchmarks_day.INJECTED_TYPES}
    assert verified["stage1"]["found"] == generated["injected"] == sum(generated["injected_by_type"].values())
    assert verified["stage1"]["found_by_type"] == generated["injected_by_type"]
    # Both files arrived whole.
    assert verified["journal"]["records"] == generated["records"]
    assert verified["statement"]["lines"] == generated["bill_lines"]
    # Stage 2: the channel settled its bill; clearing expected our confirmed records; the run saw the difference
    # (the money of stage 1's differences) and the bank's charge, once each.
    stage2 = verified["stage2"]
    difference = Decimal(stage2["channel_settlement"]) - Decimal(stage2["expected_settlement"])
    assert difference == Decimal(stage2["settlement_difference"]) != 0
    assert stage2["outcomes"] == {"SETTLEMENT_AMOUNT_MISMATCH": 1, "UNEXPECTED_MOVEMENT": 1}
    # The same run's floor classified the same rows.
    outcomes = figures["floor"]["outcomes"]
    assert outcomes["BANK_ONLY"] == generated["injected_by_type"]["BANK_ONLY"]
    assert outcomes["PLATFORM_ONLY"] == generated["injected_by_type"]["PLATFORM_ONLY"]
    # Every figure is there and adds up.
    steps = figures["steps"]
    assert list(steps) == STEPS
    for name in STEPS:
        assert steps[name]["seconds"] > 0 and steps[name]["peak_mb"] >= steps[name]["baseline_mb"] > 0, name
    assert steps["stage2"]["fund_import_seconds"] + steps["stage2"]["fund_run_seconds"] <= steps["stage2"]["seconds"]
    assert figures["total_seconds"] == pytest.approx(sum(steps[name]["seconds"] for name in STEPS), abs=0.01)
    assert figures["imports_and_stage1_seconds"] == pytest.approx(sum(steps[name]["seconds"] for name in STEPS[:3]), abs=0.01)
    floor = figures["floor"]
    assert floor["seconds"] == pytest.approx(
        floor["copy_journal_seconds"] + floor["copy_bill_seconds"] + floor["join_seconds"], abs=0.01
    )
    assert figures["ratio_vs_floor"] == pytest.approx(figures["imports_and_stage1_seconds"] / floor["seconds"], rel=0.05)
    assert figures["stage1_ratio_vs_floor"] == pytest.approx(steps["stage1"]["seconds"] / floor["seconds"], rel=0.05)
    assert set(figures["machine"]) >= {"cpu_count", "postgresql_version", "connection"}

    assert left_behind(media_root) == {}
    assert Channel.objects.get(code=benchmarks_day.DAY_BENCH_CODE).is_active is False


def forgetful(stage: str, real):
    """``run_execute`` that, for runs of ``stage``, alters one discrepancy its run wrote: a finding went wrong."""

    def run_execute(*, run, now):
        run = real(run=run, now=now)
        if run.stage == stage:
            wrong = Discrepancy.objects.filter(run=run).order_by("id").first()
            # Twice the effect: its direction (which a check constraint ties to the effect's sign) unchanged.
            Discrepancy.objects.filter(pk=wrong.pk).update(match_key="forgotten", effect=wrong.effect * 2)
        return run

    return run_execute


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("stage", "message"),
    [(RunStage.TRANSACTION, r"stage 1, .* 1 missed .* 1 not injected"), (RunStage.FUND, r"stage 2, run #\d+ concluded")],
)
def test_a_stage_that_finds_something_else_fails_the_command_and_still_cleans_up(media_root, monkeypatch, stage, message):
    # The forked children inherit the patch.
    monkeypatch.setattr(benchmarks_day, "run_execute", forgetful(stage, benchmarks_day.run_execute))
    with pytest.raises(CommandError, match=message):
        run_bench("--lines", "1000")
    assert left_behind(media_root) == {}


@pytest.mark.django_db(transaction=True)
def test_keep_leaves_the_day_until_it_is_removed(media_root):
    figures = run_bench("--lines", "300", "--keep")

    channel = Channel.objects.get(code=benchmarks_day.DAY_BENCH_CODE)
    assert PlatformTransaction.objects.filter(channel=channel).count() == figures["generated"]["records"]
    assert StatementLine.objects.filter(channel=channel).count() == figures["generated"]["bill_lines"]
    assert ReconciliationRun.objects.filter(channel=channel).count() == 2
    assert left_behind(media_root)["Voucher"] >= 2  # the day's postings and the settlement

    channel_data_remove(channel=channel)
    assert left_behind(media_root) == {}


def test_lines_must_be_a_count():
    with pytest.raises(CommandError, match="at least 100 lines"):
        call_command("bench_day", "--lines", "5")
    with pytest.raises(CommandError, match="is not a count"):
        call_command("bench_day", "--lines", "a lot")
