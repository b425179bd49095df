from django.utils import timezone

from reconciliation.devtools.benchmarks.command import BenchmarkCommand
from reconciliation.devtools.benchmarks.common import count_type
from reconciliation.devtools.benchmarks.day import (
    DAY_BENCH_CODE,
    TARGET_FLOOR_RATIO,
    TARGET_SECONDS,
    TARGET_STAGE1_FLOOR_RATIO,
    day_benchmark_run,
)
from reconciliation.devtools.benchmarks.engine import DIFFERENCE_RATE
from reconciliation.devtools.benchmarks.intake import AMOUNT_SEED

STEP_LABELS = {
    "import_transactions": "our journal (import_transactions)",
    "import_statement": "the WeChat bill (statement intake)",
    "stage1": "stage 1 (transaction run)",
    "stage2": "stage 2 (bank statement + fund run)",
}


class Command(BenchmarkCommand):
    help = (
        "Benchmark a whole channel-day: generate our journal and a WeChat Pay bill of N transactions with about "
        f"{DIFFERENCE_RATE:.0%} injected differences of every stage-1 type, then time (each in a child process, "
        "with its peak memory) the journal import, the bill's intake, stage 1 and stage 2 (with the settlement "
        "account's bank statement), verify that exactly the injected differences were found, and compare with the "
        "same run's floor: a bare COPY of both files and one classifying join. Uses the channel "
        f"{DAY_BENCH_CODE} and removes its data afterwards unless --keep."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--lines", type=count_type(100, "lines"), default=1_000_000, help="transactions of the day (default 1000000)"
        )
        parser.add_argument("--seed", type=int, default=AMOUNT_SEED, help="seed of the amounts, refunds and differences")
        parser.add_argument("--keep", action="store_true", help="keep the day's data on the benchmark channel")
        parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")

    def handle(self, *args, **options):
        figures = self.measure(
            options,
            lambda report: day_benchmark_run(
                lines=options["lines"], seed=options["seed"], keep=options["keep"], now=timezone.now(), report=report
            ),
        )
        if figures is None:
            return
        generated, floor, machine = figures["generated"], figures["floor"], figures["machine"]
        out = [
            f"{figures['lines']:,} transactions on {figures['business_date']}: {generated['records']:,} records of ours, "
            f"{generated['bill_lines']:,} bill lines, {generated['injected']:,} injected differences",
        ]
        for name, step in figures["steps"].items():
            out.append(f"  {STEP_LABELS[name]:<38} {step['seconds']:8.2f} s   peak {step['peak_mb']:7,.0f} MB")
        out += [
            f"  {'total':<38} {figures['total_seconds']:8.2f} s",
            f"  {'imports + stage 1':<38} {figures['imports_and_stage1_seconds']:8.2f} s",
            f"floor (same run): COPY journal {floor['copy_journal_seconds']:.2f} s + COPY bill "
            f"{floor['copy_bill_seconds']:.2f} s + classifying join {floor['join_seconds']:.2f} s = {floor['seconds']:.2f} s",
            f"ratios: imports + stage 1 / floor = {figures['ratio_vs_floor']:.2f}×; all steps / floor = "
            f"{figures['ratio_all_steps_vs_floor']:.2f}×; stage 1 / floor = {figures['stage1_ratio_vs_floor']:.2f}×",
            f"verified: stage 1 found exactly the {figures['verified']['stage1']['found']:,} injected differences; stage 2 "
            f"settlement {figures['verified']['stage2']['channel_settlement']} CNY against "
            f"{figures['verified']['stage2']['expected_settlement']} CNY expected, and the bank charge",
        ]
        if figures["lines"] >= 1_000_000:  # the targets are set for a million
            verdicts = [
                (figures["imports_and_stage1_seconds"] < TARGET_SECONDS, f"imports + stage 1 under {TARGET_SECONDS} s"),
                (figures["ratio_vs_floor"] < TARGET_FLOOR_RATIO, f"within {TARGET_FLOOR_RATIO}× the floor"),
                (
                    figures["stage1_ratio_vs_floor"] < TARGET_STAGE1_FLOOR_RATIO,
                    f"stage 1 within {TARGET_STAGE1_FLOOR_RATIO}× the floor",
                ),
            ]
            out.append("targets: " + "; ".join(f"{label} {'met' if ok else 'MISSED'}" for ok, label in verdicts))
        if not figures["checkpoint_before_each_step"]:
            out.append("note: CHECKPOINT was not permitted; a step may have paid for the previous one's writes")
        out.append(
            f"machine: {machine['cpu_count']} CPUs ({machine['cpu_model']}), {machine['ram_mb']} MB RAM, PostgreSQL "
            f"{machine['postgresql_version']} at {machine['database']} ({machine['connection']}), "
            f"Python {machine['python_version']}"
        )
        for line in out:
            self.stdout.write(line)
