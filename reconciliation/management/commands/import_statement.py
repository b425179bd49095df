import json
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reconciliation.models import Channel, StatementFile, StatementKind
from reconciliation.services.intake.statements import StatementRefused, statement_parse, statement_receive

KINDS = {"business": StatementKind.BUSINESS, "fund": StatementKind.FUND}


def statement_file_summary(statement_file: StatementFile) -> dict:
    return {
        "file_id": statement_file.pk,
        "channel": statement_file.channel.code,
        "kind": statement_file.kind,
        "statement_date": statement_file.statement_date.isoformat(),
        "format": statement_file.format_code,
        "status": statement_file.status,
        "lines": statement_file.line_count or 0,
        "totals": statement_file.totals,
        "warnings": statement_file.warnings,
        "errors": statement_file.errors,
    }


class Command(BaseCommand):
    help = "Import one statement file for a channel: store it, parse it, print the outcome."

    def add_arguments(self, parser):
        parser.add_argument("--channel", required=True, help="channel code, e.g. WECHAT")
        parser.add_argument("--kind", required=True, choices=sorted(KINDS))
        parser.add_argument("--date", required=True, type=date.fromisoformat, help="statement date YYYY-MM-DD")
        parser.add_argument("file", type=Path)
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        try:
            channel = Channel.objects.get(code=options["channel"])
        except Channel.DoesNotExist:
            raise CommandError(f"no channel with code {options['channel']!r}") from None
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        now = timezone.now()
        try:
            with path.open("rb") as content:
                statement_file = statement_receive(
                    channel=channel,
                    content=content,
                    original_name=path.name,
                    source=StatementFile.Source.COMMAND,
                    acting_user=None,
                    now=now,
                    kind=KINDS[options["kind"]],
                    statement_date=options["date"],
                )
            statement_file = statement_parse(statement_file=statement_file, now=timezone.now())
        except StatementRefused as exc:
            if options["json"]:
                outcome = {"status": "REFUSED", "error": str(exc), "line": exc.line, "field": exc.field}
                if exc.statement_file is not None:
                    outcome.update(statement_file_summary(exc.statement_file), status=exc.statement_file.status)
                if exc.duplicate_of is not None:
                    outcome["duplicate_of"] = exc.duplicate_of.pk
                self.stdout.write(json.dumps(outcome, ensure_ascii=False))
            raise CommandError(f"{path.name}: {exc}" if not str(exc).startswith(path.name) else str(exc)) from None
        summary = statement_file_summary(statement_file)
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
        else:
            self.stdout.write(
                f"file #{summary['file_id']} {summary['status']}: {summary['lines']} lines, "
                f"totals {json.dumps(summary['totals'], ensure_ascii=False)}"
            )
            for warning in statement_file.warnings:
                self.stdout.write(f"warning: line {warning['line']}, field {warning['field']}: {warning['reason']}")
