from argparse import ArgumentTypeError

from django.core.management.base import CommandError
from django.utils import timezone

from reconciliation.devtools.benchmarks.command import BenchmarkCommand
from reconciliation.devtools.benchmarks.intake import BENCH_CODE, intake_benchmark_run


def _count(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 0:
        raise ArgumentTypeError(f"{text} is negative")
    return value


class Command(BenchmarkCommand):
    help = (
        "Benchmark statement intake: generate a WeChat Pay trade bill of N lines, take it in through the "
        "intake service (timed, peak memory of the intake process), verify it in the database, and compare "
        f"with a bare PostgreSQL COPY and with django-import-export. Uses the channel {BENCH_CODE} and "
        "removes its own statement data afterwards unless --keep."
    )

    def add_arguments(self, parser):
        parser.add_argument("--lines", type=_count, required=True, help="lines in the generated bill, e.g. 1000000")
        parser.add_argument(
            "--import-export-lines",
            type=_count,
            default=20_000,
            help="rows imported through django-import-export for the comparison (default 20000; 0 skips it)",
        )
        parser.add_argument("--keep", action="store_true", help="keep the benchmark's statement file and lines")
        parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")

    def handle(self, *args, **options):
        if options["lines"] < 1:
            raise CommandError("--lines must be at least 1")

        figures = self.measure(
            options,
            lambda report: intake_benchmark_run(
                lines=options["lines"],
                import_export_lines=options["import_export_lines"],
                keep=options["keep"],
                now=timezone.now(),
                report=report,
            ),
        )
        if figures is None:
            return
        machine = figures["machine"]
        lines = [
            f"intake: {figures['lines']:,} lines in {figures['seconds']:.2f} s = {figures['lines_per_s']:,} lines/s "
            f"(receive {figures['receive_seconds']:.2f} s, parse + COPY {figures['parse_seconds']:.2f} s; "
            f"CPU of the intake process {figures['intake_process_cpu_seconds']:.2f} s)",
            f"peak memory of the intake process: {figures['peak_mb']:,.0f} MB (of which {figures['baseline_mb']:,.0f} MB "
            f"before the intake started)",
            f"verified: {figures['verified']['lines']:,} lines, amounts {figures['verified']['amount_total']} CNY, "
            f"fees {figures['verified']['fee_total']} CNY",
            f"bare COPY of the same rows: {figures['copy_seconds']:.2f} s; intake/COPY = {figures['ratio_vs_copy']:.2f}",
        ]
        if figures["import_export_lines_per_s"]:
            lines.append(
                f"django-import-export: {figures['import_export_lines']:,} lines in {figures['import_export_seconds']:.2f} s "
                f"= {figures['import_export_lines_per_s']:,} lines/s; our intake is "
                f"{figures['speedup_vs_import_export']:,.0f}× faster per line"
            )
        if not figures["checkpoint_before_each_phase"]:
            lines.append("note: CHECKPOINT was not permitted; a phase may have paid for the previous one's writes")
        lines.append(
            f"machine: {machine['cpu_count']} CPUs ({machine['cpu_model']}), {machine['ram_mb']} MB RAM, "
            f"PostgreSQL {machine['postgresql_version']} at {machine['database']}, Python {machine['python_version']}"
        )
        for line in lines:
            self.stdout.write(line)
