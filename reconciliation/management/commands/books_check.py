import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from reconciliation.api.presenters import run_summary
from reconciliation.models import BankAccount, Channel, ReconciliationRun, RunStage
from reconciliation.services.engine.runs import RunAlreadyActive, run_execute, run_start


class Command(BaseCommand):
    help = (
        "Book-to-bank check (账实核对) of one bank account and date: our bank journal against the bank's statement, "
        "balances and movements; differences become discrepancies."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--bank-account", required=True, help="the account number, or BANK/NUMBER when two banks share a number"
        )
        parser.add_argument("--date", required=True, type=date.fromisoformat, help="date YYYY-MM-DD")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        account = _account(options["bank_account"])
        channel = Channel.objects.filter(settlement_account=account).order_by("code").first()
        if channel is None:
            raise CommandError(f"no channel settles into bank account {options['bank_account']}: nothing to check it for")
        try:
            run = run_start(
                channel=channel,
                business_date=options["date"],
                trigger=ReconciliationRun.Trigger.COMMAND,
                now=timezone.now(),
                execute=False,
                stage=RunStage.BOOKS,
            )
        except RunAlreadyActive as exc:
            raise CommandError(str(exc)) from None
        run = run_execute(run=run, now=timezone.now())
        if run.status != ReconciliationRun.Status.SUCCEEDED:
            raise CommandError(f"run #{run.pk} failed: {run.error}")
        books = run.counts.get("books", {})
        summary = run_summary(run)
        answer = {**books, "run_id": run.pk, "discrepancies": summary["discrepancies"]}
        if options["json"]:
            self.stdout.write(json.dumps(answer, ensure_ascii=False))
            return
        self.stdout.write(
            f"run #{run.pk}: journal {books.get('journal_opening')} → {books.get('journal_closing')}, "
            f"statement {books.get('statement_opening')} → {books.get('statement_closing')}, "
            f"difference {books.get('difference')}; {len(summary['discrepancies'])} discrepancies"
        )


def _account(text: str) -> BankAccount:
    bank, _sep, number = text.rpartition("/")
    found = BankAccount.objects.filter(account_no=number)
    if bank:
        found = found.filter(Q(bank__code=bank) | Q(bank__name=bank))
    accounts = list(found.select_related("bank"))
    if not accounts:
        raise CommandError(f"no bank account {text}")
    if len(accounts) > 1:
        raise CommandError(f"{text} is an account at several banks: say which, e.g. {accounts[0].bank.code}/{number}")
    return accounts[0]
