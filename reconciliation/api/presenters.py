"""Plain-data views of runs and discrepancies, shared by the command line and the API."""

from decimal import Decimal

from backoffice.core.money import money_str
from reconciliation.models import Discrepancy, ReconciliationRun
from reconciliation.selectors.runs import run_discrepancies


def discrepancy_summary(d: Discrepancy) -> dict:
    return {
        "id": d.pk,
        "type": d.type,
        "state": d.state,
        "business_date": d.business_date.isoformat(),
        "txn_no": d.platform_txn.txn_no if d.platform_txn else "",
        "channel_txn_no": (d.statement_line.channel_txn_no if d.statement_line else "")
        or (d.platform_txn.channel_txn_no if d.platform_txn else ""),
        "related_txn_no": d.related_txn.txn_no if d.related_txn else "",
        "batch_no": d.batch_no,
        "platform_amount": money_str(d.platform_amount, d.currency),
        "bank_amount": money_str(d.bank_amount, d.currency),
        "bank_fee": money_str(d.bank_fee, d.currency),
        "platform_fee": money_str(d.platform_fee, d.currency),
        "expected_fee": money_str(d.expected_fee, d.currency),
        "currency": d.currency,
        "effect": money_str(d.effect, d.currency),
        "direction": d.direction or None,
    }


def run_summary(run: ReconciliationRun) -> dict:
    currency = run.channel.currency
    return {
        "run_id": run.pk,
        "channel": run.channel.code,
        "business_date": run.business_date.isoformat(),
        "status": run.status,
        "error": run.error,
        "counts": {outcome: v["count"] for outcome, v in run.counts.get("outcomes", {}).items()},
        "overage": money_str(Decimal(run.counts.get("overage", "0")), currency),
        "shortage": money_str(Decimal(run.counts.get("shortage", "0")), currency),
        "discrepancies": [discrepancy_summary(d) for d in run_discrepancies(run=run)],
    }
