"""How records are shown on the clerk screens: a statement row's raw fields, masked for the user."""

from __future__ import annotations

from backoffice.core.masking import can_view_personal_data, mask_account_number
from reconciliation import parsers
from reconciliation.models import StatementFile

PERSONAL_RAW_FIELDS = {"帐号", "对方账号", "对方账户", "对方账号名称", "付款账号", "收款账号", "用户标识"}
PERSONAL_RAW_SUFFIXES = ("DbtrAcct/Id/IBAN", "CdtrAcct/Id/IBAN", "DbtrAcct/Id/Othr/Id", "CdtrAcct/Id/Othr/Id")


def raw_pairs(statement_file: StatementFile, raw: str, user) -> list[tuple[str, str]]:
    try:
        pairs = parsers.raw_fields(statement_file.format_code, raw, statement_file.metadata.get("raw_columns", []))
    except Exception:  # a display aid only: never fail the page over it
        return [("", raw)]
    if can_view_personal_data(user):
        return pairs
    return [
        (name, mask_account_number(value) if name in PERSONAL_RAW_FIELDS or name.endswith(PERSONAL_RAW_SUFFIXES) else value)
        for name, value in pairs
    ]
