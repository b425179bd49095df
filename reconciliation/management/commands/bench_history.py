from django.utils import timezone

from reconciliation.devtools.benchmarks.command import BenchmarkCommand
from reconciliation.devtools.benchmarks.common import count_type
from reconciliation.devtools.benchmarks.history import HISTORY_BENCH_CODE, history_benchmark_run, history_remove
from reconciliation.devtools.benchmarks.intake import AMOUNT_SEED
from reconciliation.management.commands.bench_day import STEP_LABELS


class Command(BenchmarkCommand):
    help = (
        "Benchmark a day against a long history: the whole day (bench_day) on an empty history, then D days of N "
        f"records and lines with their stage-1 runs written on the channel {HISTORY_BENCH_CODE} (kept for the next "
        "run), the whole day again, then the clerk's screens timed over HTTP against gunicorn."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=count_type(1), default=30, help="days of history (default 30)")
        parser.add_argument("--lines", type=count_type(1), default=1_000_000, help="records and lines per day (default 1000000)")
        parser.add_argument("--seed", type=int, default=AMOUNT_SEED, help="seed of the generated days")
        parser.add_argument("--requests", type=count_type(1), default=200, help="timed requests per screen (default 200)")
        parser.add_argument("--concurrency", type=count_type(1), default=4, help="requests in flight at once (default 4)")
        parser.add_argument("--workers", type=count_type(1), default=2, help="gunicorn worker processes (default 2)")
        parser.add_argument("--no-baseline", action="store_true", help="skip the day without history")
        parser.add_argument("--remove", action="store_true", help=f"only remove the history kept on {HISTORY_BENCH_CODE}")
        parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")

    def handle(self, *args, **options):
        if options["remove"]:
            history_remove(self.stage_report(options))
            return
        figures = self.measure(
            options,
            lambda report: history_benchmark_run(
                days=options["days"],
                lines=options["lines"],
                seed=options["seed"],
                requests=options["requests"],
                concurrency=options["concurrency"],
                workers=options["workers"],
                baseline=not options["no_baseline"],
                now=timezone.now(),
                report=report,
            ),
        )
        if figures is None:
            return
        history = figures["history"]
        out = [
            f"history on {history['channel']}: {history['days']} days ({history['first_day']} to {history['last_day']}), "
            f"{history['statement_lines']:,} lines, {history['transactions']:,} records, {history['discrepancies']:,} "
            f"discrepancies; in all about {history['all_statement_lines']:,} lines and {history['all_transactions']:,} records",
        ]
        if figures["compared"]:
            out.append(f"the day of {figures['lines']:,} lines, without and with the history:")
            for name, row in figures["compared"].items():
                label = STEP_LABELS.get(name, "imports + stage 1")
                out.append(f"  {label:<38} {row['empty_seconds']:8.2f} s {row['history_seconds']:8.2f} s  {row['ratio']:5.2f}×")
        else:
            out.append(f"the day of {figures['lines']:,} lines with the history (no day without it in this run):")
            for name, step in figures["day_with_history"]["steps"].items():
                out.append(f"  {STEP_LABELS[name]:<38} {step['seconds']:8.2f} s")
        pages = figures["pages"]
        out.append(
            f"screens ({pages['requests_per_scenario']} requests each, {pages['concurrency']} in flight, "
            f"{pages['gunicorn_workers']} gunicorn workers; target p95 under {pages['target_p95_ms']} ms):"
        )
        for row in pages["scenarios"]:
            out.append(
                f"  {row['name']:<42} p50 {row['p50_ms']:6.0f} ms  p95 {row['p95_ms']:6.0f} ms  p99 {row['p99_ms']:6.0f} ms"
            )
        machine = figures["machine"]
        out.append(
            f"machine: {machine['cpu_count']} CPUs ({machine['cpu_model']}), {machine['ram_mb']} MB RAM, PostgreSQL "
            f"{machine['postgresql_version']} at {machine['database']} ({machine['connection']})"
        )
        for line in out:
            self.stdout.write(line)
