import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reconciliation.models import TransactionConflict
from reconciliation.services.intake.transactions import TransactionBatchRefused, transactions_import_file


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
            result = transactions_import_file(
                path=path,
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
                            "total": exc.total,
                            "errors": [e.as_dict() for e in exc.errors],
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                for error in exc.errors:
                    self.stderr.write(f"{path.name}, {error}")
            if exc.total > len(exc.errors):
                self.stderr.write(f"{path.name}: … and {exc.total - len(exc.errors)} more")
            raise CommandError(f"{path.name}: {exc.total} record(s) refused, nothing imported") from None
        if options["json"]:
            self.stdout.write(json.dumps({"status": "IMPORTED", **result.as_dict()}))
        else:
            self.stdout.write(f"{path.name}: {result.created} created, {result.updated} updated, {result.unchanged} unchanged")
