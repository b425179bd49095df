"""The intake benchmark measures the real service, checks what arrived and leaves nothing behind.

No timing is asserted: the figures depend on the machine. The benchmark forks its intake process, so
these tests need committed data (transactional database).
"""

import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from reconciliation.devtools.benchmarks import intake as benchmarks
from reconciliation.models import Channel, StatementFile, StatementLine


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def run_bench(*args: str) -> dict:
    out = io.StringIO()
    call_command("bench_intake", *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def stored_files(root) -> list:
    return [path for path in root.rglob("*") if path.is_file()]


@pytest.mark.django_db(transaction=True)
def test_a_small_run_reports_consistent_verified_figures_and_cleans_up(media_root):
    figures = run_bench("--lines", "2000", "--import-export-lines", "200")

    assert figures["lines"] == 2000 and figures["kept"] is False
    verified = figures["verified"]
    assert verified["lines"] == 2000
    assert sum(verified["count_by_type"].values()) == 2000
    assert verified["count_by_type"]["REFUND"] > 0  # the bill holds refunds as well as payments
    assert sum(Decimal(amount) for amount in verified["amount_by_type"].values()) == Decimal(verified["amount_total"])
    for name in (
        "seconds",
        "lines_per_s",
        "peak_mb",
        "copy_seconds",
        "ratio_vs_copy",
        "import_export_lines_per_s",
        "speedup_vs_import_export",
    ):
        assert figures[name] > 0, name
    assert figures["peak_mb"] >= figures["baseline_mb"]
    assert figures["import_export_lines"] == 200
    assert set(figures["machine"]) >= {"cpu_count", "cpu_model", "ram_mb", "postgresql_version", "python_version"}

    assert not StatementFile.objects.exists()
    assert not StatementLine.objects.exists()  # neither the intake's, nor the COPY's, nor import-export's rows
    assert stored_files(media_root) == []
    assert Channel.objects.get(code="BENCH").is_active is False  # the dedicated channel stays, inactive


def test_derived_figures_come_from_the_unrounded_timings():
    """The ratios are computed before rounding (a ratio of two rounded timings drifts by several per cent
    when a timing is small), so they are exact for given timings whatever the machine."""
    figures = benchmarks.speed_figures(lines=2000, seconds=0.4104, copy_seconds=0.0844, import_lines=200, import_seconds=0.9)
    assert figures == {
        "seconds": 0.41,
        "lines_per_s": 4873,
        "copy_seconds": 0.084,
        "ratio_vs_copy": 4.86,
        "import_export_lines": 200,
        "import_export_seconds": 0.9,
        "import_export_lines_per_s": 222,
        "speedup_vs_import_export": 21.9,
    }
    assert (
        benchmarks.speed_figures(lines=10, seconds=1.0, copy_seconds=0.5, import_lines=0, import_seconds=None)[
            "speedup_vs_import_export"
        ]
        is None
    )


@pytest.mark.django_db(transaction=True)
def test_keep_leaves_the_parsed_file_until_it_is_removed(media_root):
    figures = run_bench("--lines", "300", "--import-export-lines", "0", "--keep")

    statement_file = StatementFile.objects.get(pk=figures["file_id"])
    assert (statement_file.status, statement_file.line_count, statement_file.channel.code) == ("PARSED", 300, "BENCH")
    assert StatementLine.objects.filter(file=statement_file).count() == 300
    assert figures["import_export_lines_per_s"] is None

    removed = benchmarks.benchmark_files_remove(channel=statement_file.channel, sha256=statement_file.sha256)
    assert removed == 1
    assert not StatementFile.objects.exists() and not StatementLine.objects.exists()
    assert stored_files(media_root) == []


@pytest.mark.django_db(transaction=True)
def test_a_failing_intake_fails_the_command_and_still_cleans_up(media_root, monkeypatch):
    def broken_parse(*, statement_file, now):
        raise RuntimeError("parser crashed")

    # The intake runs in a forked child, which inherits the patch.
    monkeypatch.setattr(benchmarks, "statement_parse", broken_parse)
    with pytest.raises(CommandError, match="parser crashed"):
        run_bench("--lines", "300", "--import-export-lines", "0")
    assert not StatementFile.objects.exists()
    assert stored_files(media_root) == []


@pytest.mark.django_db(transaction=True)
def test_totals_that_do_not_match_the_generated_bill_fail_loudly(media_root, monkeypatch):
    monkeypatch.setattr(benchmarks.GeneratedBill, "amount_total", property(lambda bill: Decimal("0.01")))
    with pytest.raises(CommandError, match="amounts sum to .*, generated 0.01"):
        run_bench("--lines", "300", "--import-export-lines", "0")
    assert not StatementFile.objects.exists() and not StatementLine.objects.exists()
