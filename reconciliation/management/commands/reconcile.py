import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reconciliation.api.presenters import run_summary
from reconciliation.models import Channel, ReconciliationRun, RunStage
from reconciliation.services.engine.runs import RunAlreadyActive, run_date_problem, run_execute, run_start


class Command(BaseCommand):
    help = "Reconcile one channel and date now (stage 1, or stage 2 with --stage fund) and print the outcome."

    def add_arguments(self, parser):
        parser.add_argument("--channel", required=True, help="channel code, e.g. WECHAT")
        parser.add_argument("--date", required=True, type=date.fromisoformat, help="business date YYYY-MM-DD")
        parser.add_argument(
            "--stage",
            choices=["transaction", "fund"],
            default="transaction",
            help="transaction: our records against the channel's bill (stage 1); fund: settlements against money moved",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        try:
            channel = Channel.objects.get(code=options["channel"])
        except Channel.DoesNotExist:
            raise CommandError(f"no channel with code {options['channel']!r}") from None
        problem = run_date_problem(options["date"], today=timezone.localdate(), channel=channel)
        if problem:
            raise CommandError(problem)
        try:
            run = run_start(
                channel=channel,
                business_date=options["date"],
                trigger=ReconciliationRun.Trigger.COMMAND,
                now=timezone.now(),
                execute=False,
                stage=RunStage.FUND if options["stage"] == "fund" else RunStage.TRANSACTION,
            )
        except RunAlreadyActive as exc:
            raise CommandError(str(exc)) from None
        run = run_execute(run=run, now=timezone.now())
        summary = run_summary(run)
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
        else:
            counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items())
            self.stdout.write(
                f"run #{run.pk} {run.status}: {counts}; overage {summary['overage']}, shortage {summary['shortage']}"
            )
        if run.status != ReconciliationRun.Status.SUCCEEDED:
            raise CommandError(f"run #{run.pk} failed: {run.error}")
