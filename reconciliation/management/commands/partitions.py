import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reconciliation.services.partitions import (
    PARTITIONED,
    PartitionError,
    partitions_archive,
    partitions_maintain,
    partitions_of,
)

_MODELS = {model._meta.model_name: model for model in PARTITIONED}


class Command(BaseCommand):
    help = (
        "The day partitions of the statement tables (statement lines, fund movements): list them, make the "
        "coming days' (what the housekeeping beat does), or archive the days before a date into the archive schema."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=("list", "maintain", "archive"))
        parser.add_argument("--table", choices=sorted(_MODELS), help="one table (default: every partitioned table)")
        parser.add_argument("--before", type=date.fromisoformat, help="archive: the days before this date YYYY-MM-DD")
        parser.add_argument("--ahead", type=int, default=7, help="maintain: days ahead (default 7)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        models = [_MODELS[options["table"]]] if options["table"] else list(PARTITIONED)
        today = timezone.localdate()
        if options["action"] == "list":
            answer = {
                model._meta.db_table: [
                    {"partition": p.name, "day": p.day.isoformat() if p.day else "default", "rows": p.rows}
                    for p in partitions_of(model)
                ]
                for model in models
            }
            lines = [f"{table}: {p['partition']} {p['day']} ~{p['rows']} rows" for table, ps in answer.items() for p in ps]
        elif options["action"] == "maintain":
            result = partitions_maintain(today=today, ahead=options["ahead"])
            answer = {table: [d.isoformat() for d in days] for table, days in result.created.items()}
            lines = [f"{table}: created {', '.join(days) or 'none'}" for table, days in answer.items()]
        else:
            if options["before"] is None:
                raise CommandError("archive needs --before YYYY-MM-DD")
            try:
                archived = [a for model in models for a in partitions_archive(model, before=options["before"], today=today)]
            except PartitionError as exc:
                raise CommandError(str(exc)) from None
            answer = {
                "archived": [
                    {"table": a.table, "day": a.day.isoformat(), "as": a.archived_as, "rows": a.rows, "kept": a.kept}
                    for a in archived
                ]
            }
            lines = [f"{a.table} {a.day}: {a.rows} rows to {a.archived_as}, {a.kept} still referred to kept" for a in archived]
            lines = lines or ["nothing to archive"]
        self.stdout.write(json.dumps(answer, ensure_ascii=False) if options["json"] else "\n".join(lines))
