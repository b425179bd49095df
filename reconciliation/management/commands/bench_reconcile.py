from argparse import ArgumentTypeError

from django.utils import timezone

from reconciliation.devtools.benchmarks.command import BenchmarkCommand
from reconciliation.devtools.benchmarks.engine import DIFFERENCE_RATE, ENGINE_BENCH_CODE, engine_benchmark_run

TARGET_SECONDS_PER_MILLION, TARGET_PEAK_MB, AIM_FLOOR_RATIO = 20, 1024, 3


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ArgumentTypeError(f"{text!r}: give a count, or counts separated by commas (100000,1000000)") from None
    if not sizes or min(sizes) < 10:
        raise ArgumentTypeError(f"{text!r}: every count must be at least 10")
    return sizes


class Command(BenchmarkCommand):
    help = (
        "Benchmark stage 1 of the reconciliation engine: generate N of our transactions and a matching statement "
        f"with about {DIFFERENCE_RATE:.0%} injected differences of every type, reconcile them in a child process "
        "(timed, peak memory), check that exactly the injected set was found, and compare with a plain SQL full "
        "outer hash join of the same rows and with a per-row ORM matcher. Several sizes (100000,1000000,2000000) "
        f"show how the time grows. Uses the channel {ENGINE_BENCH_CODE} and removes its data afterwards unless --keep."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--transactions",
            type=_sizes,
            required=True,
            help="our transactions for the day, e.g. 1000000, or several sizes: 100000,1000000,2000000",
        )
        parser.add_argument(
            "--orm-rows",
            type=int,
            default=10_000,
            help="transactions matched by the per-row ORM matcher (default 10000; 0 skips it)",
        )
        parser.add_argument("--seed", type=int, default=20261125, help="seed of the generated days")
        parser.add_argument("--keep", action="store_true", help="keep the last round's data on the benchmark channel")
        parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")

    def handle(self, *args, **options):
        figures = self.measure(
            options,
            lambda report: engine_benchmark_run(
                sizes=options["transactions"],
                orm_rows=max(0, options["orm_rows"]),
                keep=options["keep"],
                seed=options["seed"],
                now=timezone.now(),
                report=report,
            ),
        )
        if figures is None:
            return
        orm, out = figures["orm"], []
        for r in figures["rounds"]:
            backend = f", PostgreSQL backend peak {r['backend_peak_mb']:,.0f} MB" if r["backend_peak_mb"] else ""
            out += [
                f"{r['transactions']:,} transactions against {r['lines']:,} lines: {r['seconds']:.2f} s = "
                f"{r['rows_per_s']:,} rows/s ({r['seconds_per_million_transactions']:.2f} s per million transactions)",
                f"  exact: found {r['found']:,} differences = the {r['injected']:,} injected",
                f"  peak memory of the run process {r['peak_mb']:,.0f} MB (of which {r['baseline_mb']:,.0f} MB before "
                f"the run){backend}",
                f"  floor (plain SQL full outer hash join of the same rows): {r['floor_seconds']:.2f} s; "
                f"engine/floor = {r['ratio_vs_floor']:.2f}×",
            ]
            if r["orm_slower_per_row"]:
                out.append(f"  the per-row ORM matcher is {r['orm_slower_per_row']:,.0f}× slower per row")
            verdicts = [
                (
                    "time",
                    r["seconds"] * 1_000_000 / r["transactions"] < TARGET_SECONDS_PER_MILLION,
                    f"under {TARGET_SECONDS_PER_MILLION} s per million",
                ),
                ("memory", r["peak_mb"] < TARGET_PEAK_MB, f"peak under {TARGET_PEAK_MB} MB"),
                ("floor", r["ratio_vs_floor"] < AIM_FLOOR_RATIO, f"under {AIM_FLOOR_RATIO}× the floor (aim)"),
            ]
            if r["requested"] >= 1_000_000:  # the targets are set for a million and more
                out.append("  targets: " + "; ".join(f"{label} {'met' if ok else 'MISSED'}" for _, ok, label in verdicts))
        if len(figures["rounds"]) > 1:
            first, last = figures["rounds"][0], figures["rounds"][-1]
            growth = last["seconds_per_million_transactions"] / first["seconds_per_million_transactions"]
            out.append(
                f"scaling {first['transactions']:,} → {last['transactions']:,}: time per transaction × {growth:.2f} "
                "(1.00 is perfectly linear)"
            )
        if orm:
            out.append(
                f"per-row ORM matcher: {orm['transactions']:,} transactions ({orm['rows']:,} rows) in {orm['seconds']:.2f} s "
                f"= {orm['rows_per_s']:,} rows/s, {orm['found']:,} differences"
            )
        m = figures["machine"]
        out.append(
            f"machine: {m['cpu_count']} CPUs ({m['cpu_model']}), {m['ram_mb']} MB RAM, PostgreSQL "
            f"{m['postgresql_version']} at {m['database']}, Python {m['python_version']}"
        )
        for line in out:
            self.stdout.write(line)
