import json
from datetime import date

from django.core.management.base import BaseCommand

from accounts.services.books import trial_balance
from backoffice.core.money import money_str


class Command(BaseCommand):
    help = "Print the trial balance (试算平衡表) as of a business date: per ledger account debit, credit and balance."

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, type=date.fromisoformat, help="business date YYYY-MM-DD (inclusive)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        report = trial_balance(as_of=options["date"])
        if options["json"]:
            self.stdout.write(json.dumps(trial_balance_json(report), ensure_ascii=False))
            return
        for row in report.rows:
            c = row.account.currency
            self.stdout.write(
                f"{row.account.code:<28} {row.account.name:<24} {c} "
                f"Dr {money_str(row.debit, c):>18} Cr {money_str(row.credit, c):>18} = {money_str(row.balance, c):>18}"
            )
        for currency, (debit, credit) in report.totals.items():
            state = "balanced" if debit == credit else "NOT BALANCED"
            self.stdout.write(f"{currency}: Dr {money_str(debit, currency)} Cr {money_str(credit, currency)} {state}")


def trial_balance_json(report) -> dict:
    return {
        "date": report.as_of.isoformat(),
        "accounts": [
            {
                "code": row.account.code,
                "name": row.account.name,
                "type": row.account.type,
                "currency": row.account.currency,
                "debit": money_str(row.debit, row.account.currency),
                "credit": money_str(row.credit, row.account.currency),
                "balance": money_str(row.balance, row.account.currency),
            }
            for row in report.rows
        ],
        "totals": {
            currency: {"debit": money_str(d, currency), "credit": money_str(c, currency), "balanced": d == c}
            for currency, (d, c) in report.totals.items()
        },
        "balanced": report.balanced,
    }
