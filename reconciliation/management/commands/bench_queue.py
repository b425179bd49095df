from django.core.management.base import CommandError
from django.utils import timezone

from reconciliation.devtools.benchmarks.command import BenchmarkCommand
from reconciliation.devtools.benchmarks.queue import QUEUE_BENCH_CODES, TARGET_P95_MS, queue_benchmark_run


class Command(BenchmarkCommand):
    help = (
        "Benchmark the discrepancy queue under load: seed N discrepancies (set-based) on the channels "
        f"{QUEUE_BENCH_CODES[0]}…{QUEUE_BENCH_CODES[-1]}, start gunicorn on 127.0.0.1 and time the queue's main "
        "variants, the dashboard and a run's page from a threaded client (p50/p95/p99/max). Removes its data "
        "afterwards unless --keep."
    )

    def add_arguments(self, parser):
        parser.add_argument("--discrepancies", type=int, default=100_000, help="discrepancies to seed (default 100000)")
        parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario (default 200)")
        parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at once (default 4)")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
        parser.add_argument("--only", default="", help="time only the scenarios whose name contains this text")
        parser.add_argument("--seed", type=int, default=20261201, help="seed of the generated days")
        parser.add_argument("--keep", action="store_true", help="keep the seeded data on the benchmark channels")
        parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")

    def handle(self, *args, **options):
        if options["discrepancies"] < 1000 or options["requests"] < 1 or options["concurrency"] < 1:
            raise CommandError("--discrepancies must be at least 1000, --requests and --concurrency at least 1")
        now = timezone.now()
        figures = self.measure(
            options,
            lambda report: queue_benchmark_run(
                discrepancies=options["discrepancies"],
                requests=options["requests"],
                concurrency=options["concurrency"],
                workers=options["workers"],
                keep=options["keep"],
                seed=options["seed"],
                today=timezone.localdate(now),
                now=now,
                report=report,
                only=lambda scenario: options["only"] in scenario.name,
            ),
        )
        if figures is None:
            return
        shape = figures["shape"]
        self.stdout.write(
            f"{shape['discrepancies']:,} discrepancies on {shape['channels']} channels, {shape['days']} days "
            f"({shape['first_day']} to {shape['last_day']}), {shape['assigned']:,} assigned; states {shape['by_state']}"
        )
        self.stdout.write(
            f"{figures['requests_per_scenario']} requests per scenario, {figures['concurrency']} at a time, "
            f"gunicorn with {figures['gunicorn_workers']} workers"
        )
        self.stdout.write(f"{'scenario':<42} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'req/s':>6}  target")
        for s in figures["scenarios"]:
            verdict = "met" if s["p95_ms"] < TARGET_P95_MS else "MISSED"
            self.stdout.write(
                f"{s['name']:<42} {s['p50_ms']:>5.0f}ms {s['p95_ms']:>5.0f}ms {s['p99_ms']:>5.0f}ms {s['max_ms']:>5.0f}ms "
                f"{s['requests_per_s']:>6.1f}  p95 < {TARGET_P95_MS} ms {verdict}"
            )
        m = figures["machine"]
        self.stdout.write(
            f"machine: {m['cpu_count']} CPUs ({m['cpu_model']}), {m['ram_mb']} MB RAM, PostgreSQL "
            f"{m['postgresql_version']} at {m['database']}, Python {m['python_version']}"
        )
