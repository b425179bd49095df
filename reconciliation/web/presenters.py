"""How records are shown on the clerk screens: every field of a record, a statement row's raw fields,
personal data masked for the user as everywhere (backoffice.core.masking)."""

from __future__ import annotations

from decimal import Decimal

from backoffice.core.masking import can_view_personal_data, mask_account_number, personal_value
from backoffice.core.money import format_money
from reconciliation import parsers
from reconciliation.models import StatementFile


def raw_pairs(statement_file: StatementFile, raw: str, user) -> list[tuple[str, str]]:
    try:
        pairs = parsers.raw_fields(statement_file.format_code, raw, statement_file.metadata.get("raw_columns", []))
    except Exception:  # a display aid only: never fail the page over it
        return [("", raw)]
    if can_view_personal_data(user):
        return pairs
    return [(name, mask_account_number(value) if parsers.is_personal_raw_column(name) else value) for name, value in pairs]


def field_rows(obj, *, skip: set[str], user) -> list[tuple[str, object]]:
    """Every field of a record as (label, shown value): choices by label, amounts with the currency's
    decimals, personal fields as the user may see them, empty values as None."""
    rows = []
    for f in obj._meta.concrete_fields:
        if f.name in skip:
            continue
        value = getattr(obj, f"get_{f.name}_display")() if f.choices else personal_value(user, obj, f.name)
        if isinstance(value, Decimal):
            value = format_money(value, getattr(obj, "currency", ""))
        rows.append((f.verbose_name, value if value not in ("", None) else None))
    return rows


def txn_fields(txn, user) -> list[tuple[str, object]]:
    if txn is None:
        return []
    return field_rows(txn, skip={"id", "source_line"}, user=user)


def line_fields(line, user) -> list[tuple[str, object]]:
    return [] if line is None else field_rows(line, skip={"id", "raw", "channel", "file"}, user=user)
