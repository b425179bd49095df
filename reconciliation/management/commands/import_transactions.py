import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reconciliation.models import TransactionConflict
from reconciliation.services.intake.transactions import TransactionBatchRefused, transaction_inputs_from_csv, transactions_upsert


class Command(BaseCommand):
    help = "Import the payment core's transaction journal (CSV with a header row). All or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            inputs, invalid = transaction_inputs_from_csv(path.read_bytes())
            result = transactions_upsert(
                inputs=inputs,
                invalid=invalid,
                source=TransactionConflict.Source.FILE,
                source_ref=path.name,
                now=timezone.now(),
            )
        except TransactionBatchRefused as exc:
            if options["json"]:
                self.stdout.write(
                    json.dumps(
                        {
                            "status": "REFUSED",
                            "conflicts": exc.conflicts,
                            "errors": [e.as_dict() for e in exc.errors],
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                for error in exc.errors:
                    self.stderr.write(f"{path.name}, {error}")
            raise CommandError(f"{path.name}: {len(exc.errors)} record(s) refused, nothing imported") from None
        if options["json"]:
            self.stdout.write(json.dumps({"status": "IMPORTED", **result.as_dict()}))
        else:
            self.stdout.write(f"{path.name}: {result.created} created, {result.updated} updated, {result.unchanged} unchanged")
