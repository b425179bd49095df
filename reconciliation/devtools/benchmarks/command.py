"""What every ``bench_*`` command does around its benchmark: stage notes on stderr, a failure as a command
error, and ``--json`` as one object on stdout."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError

from reconciliation.devtools.benchmarks.common import BenchmarkFailed, StageReport


class BenchmarkCommand(BaseCommand):
    def stage_report(self, options) -> StageReport:
        """Stage notes go to stderr, so that --json leaves stdout to the JSON object alone; plain (stderr's
        default style is the error colour); none at verbosity 0."""

        def report(message: str) -> None:
            if options["verbosity"] >= 1:
                self.stderr.write(message, style_func=str)

        return report

    def measure(self, options, work: Callable[[StageReport], dict]) -> dict | None:
        """Run ``work`` with the stage report. Its figures, or None once written as JSON (--json)."""
        try:
            figures = work(self.stage_report(options))
        except BenchmarkFailed as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(figures, ensure_ascii=False))
            return None
        return figures
