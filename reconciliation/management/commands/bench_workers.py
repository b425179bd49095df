import os

from django.core.management.base import CommandError

from reconciliation.devtools.benchmarks.command import BenchmarkCommand
from reconciliation.devtools.benchmarks.workers import DIFFERENCE_EVERY, WORKERS_BENCH_CODE, workers_benchmark_run


def _processes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--processes {text!r}: give pool sizes separated by commas (1,2)") from None
    if not sizes or min(sizes) < 1:
        raise CommandError(f"--processes {text!r}: every pool size must be at least 1")
    return sizes


class Command(BenchmarkCommand):
    help = (
        "Benchmark the worker pool: K channel-days of M statement lines (WeChat bills and our records of them, one "
        f"collection in {DIFFERENCE_EVERY} differing) taken through the real intake and reconciliation jobs by a real "
        "Celery worker on a real broker, once per pool size (1 and 2 processes by default): wall-clock time from the "
        "parse jobs' enqueue to the last run's end, every file, run and difference verified, the speed-up printed. "
        f"Uses the channels {WORKERS_BENCH_CODE}01… and removes their data afterwards unless --keep."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--channel-days", type=int, default=10, help="channel-days (one day on each of K channels; default 10)"
        )
        parser.add_argument("--lines", type=int, default=500_000, help="statement lines per channel-day (default 500000)")
        parser.add_argument("--processes", default="1,2", help="worker pool sizes to measure, in order (default 1,2)")
        parser.add_argument(
            "--repeat", type=int, default=1, help="measure every size this many times, in turn (default 1); medians compared"
        )
        parser.add_argument(
            "--broker",
            default=None,
            help="redis://… or amqp://… (default CELERY_BROKER_URL when it is one of them); the benchmark's queues "
            "are named for its run alone and deleted afterwards",
        )
        parser.add_argument("--keep", action="store_true", help="keep the last pool size's data on the benchmark channels")
        parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")

    def handle(self, *args, **options):
        broker = options["broker"] or os.environ.get("CELERY_BROKER_URL", "")
        if not broker.startswith(("redis://", "rediss://", "amqp://", "amqps://", "pyamqp://")):
            raise CommandError("give --broker redis://… or amqp://… (worker processes need a real broker)")
        if options["channel_days"] < 1 or options["lines"] < 100:
            raise CommandError("--channel-days must be at least 1 and --lines at least 100")
        figures = self.measure(
            options,
            lambda report: workers_benchmark_run(
                channel_days=options["channel_days"],
                lines=options["lines"],
                processes=_processes(options["processes"]),
                repeat=max(1, options["repeat"]),
                broker=broker,
                keep=options["keep"],
                report=report,
            ),
        )
        if figures is None:
            return
        out = [
            f"{figures['channel_days']} channel-days × {figures['lines_per_day']:,} lines = {figures['lines']:,} lines "
            f"({figures['records']:,} records of ours, {figures['injected']:,} injected differences), broker {figures['broker']}"
        ]
        for r in figures["rounds"]:
            parse, run = r["jobs"].get("statement_parse", {}), r["jobs"].get("run_execute", {})
            out.append(
                f"{r['processes']} process(es): {r['seconds']:.2f} s from enqueue to the last run's end = "
                f"{r['lines_per_s']:,} lines/s; parses {parse.get('sum', 0):.1f} s and runs {run.get('sum', 0):.1f} s of work "
                f"(longest {parse.get('max', 0):.1f} s / {run.get('max', 0):.1f} s), {r['busy_over_wall']:.2f} jobs working "
                f"on average; load average {r['load_average'][0]:.1f} → {r['load_average'][1]:.1f}"
            )
        for size in figures["summary"]:
            out.append(
                f"{size['processes']} process(es), median of {size['rounds']}: {size['median_seconds']:.2f} s = "
                f"{size['lines_per_s']:,} lines/s, speed-up {size['speedup']:.2f}×"
            )
        out.append(
            "verified: every file holds its lines and sums, every run SUCCEEDED with exactly the injected differences, "
            "the same results for every pool size"
        )
        m = figures["machine"]
        out.append(
            f"machine: {m['cpu_count']} CPUs ({m['cpu_model']}), {m['ram_mb']} MB RAM, PostgreSQL "
            f"{m['postgresql_version']} at {m['database']}, Python {m['python_version']}"
        )
        for line in out:
            self.stdout.write(line)
