import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from backoffice.core.money import money_str
from reconciliation.models import Channel
from reconciliation.services.engine.clearing import clearing_compute


class Command(BaseCommand):
    help = "Clearing (清分) of one channel and business date: per settlement batch and per merchant, count, gross, fee and net."

    def add_arguments(self, parser):
        parser.add_argument("--channel", required=True, help="channel code, e.g. WECHAT")
        parser.add_argument("--date", required=True, type=date.fromisoformat, help="business date YYYY-MM-DD")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        try:
            channel = Channel.objects.get(code=options["channel"])
        except Channel.DoesNotExist:
            raise CommandError(f"no channel with code {options['channel']!r}") from None
        result = clearing_compute(channel=channel, day=options["date"])
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json(), ensure_ascii=False))
            return
        c = result.currency
        self.stdout.write(f"{channel.code} {result.business_date} ({channel.get_settlement_cycle_display()}), {c}")
        for b in result.batches:
            f = b.figures
            self.stdout.write(
                f"  batch {b.batch} settles {b.settles_on}: {f.count} items, gross {money_str(f.gross, c)}, "
                f"fee {money_str(f.fee, c)} (apart {money_str(f.fee_apart, c)}), net {money_str(f.net, c)}"
            )
        for m in result.merchants:
            f = m.figures
            self.stdout.write(
                f"  merchant {m.merchant_no or '-'}: {f.count} items, gross {money_str(f.gross, c)}, net {money_str(f.net, c)}"
            )
        t = result.totals
        self.stdout.write(
            f"  total: {t.count} items, gross {money_str(t.gross, c)}, fee {money_str(t.fee, c)}, net {money_str(t.net, c)}"
        )
