"""Writers of the configurable CSV format."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import tzinfo
from typing import BinaryIO

from reconciliation.parsers.base import (
    DEFAULT_TZ,
    ZERO,
    Direction,
    FundMovementRow,
    StatementLineRow,
)
from reconciliation.parsers.generic import GenericFormatConfig, write_amount, write_date
from reconciliation.parsers.writers.common import Text


def write_generic_csv(
    rows: Iterable[StatementLineRow | FundMovementRow],
    out: BinaryIO,
    *,
    config: GenericFormatConfig,
    footer: str | None = None,
    tz: tzinfo = DEFAULT_TZ,
) -> None:
    """A CSV file in the layout ``config`` reads: title rows above ``header_row``, the first
    alternative name of each configured column, values in the configured notations. ``footer``
    is a template with ``{count}`` and ``{amount}`` (for control totals), written after an empty
    row or, without ``stop_at_empty_row``, as a row that must start with a footer prefix."""
    if config.file_type != "csv":
        raise ValueError("write_generic_csv writes CSV configurations only")
    targets = list(config.columns)
    header = [config.columns[target][0] for target in targets]
    count, total = 0, ZERO
    scope = config.control_totals.scope if config.control_totals else "all"
    with Text(out, config.encoding) as text:
        writer = csv.writer(text, delimiter=config.delimiter, lineterminator="\n")
        for title_row in range(config.header_row - 1):
            writer.writerow([f"statement title {title_row + 1}"])
        writer.writerow(header)
        for _skipped in range(config.skip_rows_after_header):
            writer.writerow(["-"] * len(header))
        for row in rows:
            values = _generic_values(row, config, tz)
            writer.writerow([values.get(target, "") for target in targets])
            direction = getattr(row, "direction", None)
            if scope == "all" or (direction is not None and direction.value.lower() == scope):
                count += 1
                total += row.amount
        if footer is not None:
            if config.stop_at_empty_row:
                text.write("\n")
            elif not any(footer.startswith(prefix) for prefix in config.footer_prefixes):
                raise ValueError("the footer must start with a footer prefix, or the config must stop at an empty row")
            text.write(footer.format(count=count, amount=write_amount(total, config.amount_format)) + "\n")


def _reverse(mapping: dict, value: object, what: str) -> str:
    for text, mapped in mapping.items():
        if mapped == value:
            return text
    raise ValueError(f"the config's {what} has no text for {value}")


def _generic_values(row: StatementLineRow | FundMovementRow, config: GenericFormatConfig, tz: tzinfo) -> dict[str, str]:
    fmt = config.amount_format
    stamp = lambda value: value.astimezone(tz).strftime(config.datetime_formats[0]) if value else ""  # noqa: E731
    if isinstance(row, StatementLineRow):
        values = {
            "channel_txn_no": row.channel_txn_no,
            "txn_no": row.txn_no,
            "amount": write_amount(row.amount, fmt),
            "fee": write_amount(row.fee, fmt),
            "currency": row.currency,
            "occurred_at": stamp(row.occurred_at),
            "completed_at": stamp(row.completed_at),
            "refund_no": row.refund_no,
            "original_channel_txn_no": row.original_channel_txn_no,
            "original_txn_no": row.original_txn_no,
            "batch_ref": row.batch_ref,
        }
        if row.occurred_at is not None:
            local = row.occurred_at.astimezone(tz)
            values["occurred_date"] = write_date(local.date(), config.date_formats)
            values["occurred_time"] = local.strftime(config.time_formats[0])
        if "line_type" in config.columns:
            values["line_type"] = _reverse(config.type_map, row.line_type, "type_map")
        if "status" in config.columns:
            values["status"] = _reverse(config.status_map, row.status, "status_map")
        return values
    values = {
        "account_ref": row.account_ref,
        "booking_date": write_date(row.booking_date, config.date_formats),
        "booked_at": stamp(row.booked_at),
        "booking_time": row.booked_at.astimezone(tz).strftime(config.time_formats[0]) if row.booked_at else "",
        "value_date": write_date(row.value_date, config.date_formats) if row.value_date else "",
        "balance_after": "" if row.balance_after is None else write_amount(row.balance_after, fmt),
        "currency": row.currency,
        "counterparty_name": row.counterparty_name,
        "counterparty_account": row.counterparty_account,
        "memo": row.memo,
        "bank_ref": row.bank_ref,
        "batch_ref": row.batch_ref,
        "business_ref": row.business_ref,
    }
    debit = row.direction is Direction.DEBIT
    if config.debit_credit == "separate_columns":
        values["debit" if debit else "credit"] = write_amount(row.amount, fmt)
    elif config.debit_credit == "signed":
        values["amount"] = write_amount(-row.amount if debit else row.amount, fmt)
    else:
        values["amount"] = write_amount(row.amount, fmt)
        values["indicator"] = _reverse(config.indicator_map, row.direction, "indicator_map")
    return values
