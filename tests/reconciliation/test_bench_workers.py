"""``manage.py bench_workers`` on a tiny size: two channel-days taken through real worker pools of one and two
processes on the real Redis broker, verified, and nothing of it left behind (its timings are not asserted)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django_celery_results.models import TaskResult
from workers import REDIS

from accounts.models import Voucher
from backoffice.models import OutboxJob
from reconciliation.devtools.benchmarks.workers import WORKERS_BENCH_CODE
from reconciliation.models import Discrepancy, PlatformTransaction, ReconciliationRun, StatementFile, StatementLine

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.skipif(not REDIS, reason="needs a real Redis broker (TEST_REDIS_URL)"),
]


def test_bench_workers_verifies_its_results_on_one_and_two_processes_and_cleans_up():
    out = StringIO()
    call_command(
        "bench_workers", "--channel-days", "2", "--lines", "2000", "--broker", REDIS, "--json", stdout=out, stderr=StringIO()
    )

    figures = json.loads(out.getvalue())
    assert figures["verified"] and figures["same_results"]
    assert [r["processes"] for r in figures["rounds"]] == [1, 2]
    assert figures["lines"] == 4000 and figures["injected"] > 0
    for r in figures["rounds"]:
        assert r["jobs"]["statement_parse"]["count"] == 2 and r["jobs"]["run_execute"]["count"] == 2
    channel = {"channel__code__startswith": WORKERS_BENCH_CODE}
    for model in (PlatformTransaction, StatementFile, StatementLine, ReconciliationRun, Discrepancy):
        assert not model.objects.filter(**channel).exists(), model
    assert not Voucher.objects.filter(scope__startswith=f"txn:{WORKERS_BENCH_CODE}").exists()
    assert not apps.get_model("accounts", "VoucherEvent").objects.exists()
    assert not OutboxJob.objects.exists()
    assert not TaskResult.objects.exists()
    assert not list(Path(settings.MEDIA_ROOT).glob(f"statements/{WORKERS_BENCH_CODE}*"))
