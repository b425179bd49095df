"""Writers of sWIFT MT940 statements."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import BinaryIO

from reconciliation.parsers.base import (
    Direction,
    FundMovementRow,
)
from reconciliation.parsers.writers.common import money


def _swift_amount(amount: Decimal) -> str:
    return money(amount).replace(".", ",")


def write_mt940(
    rows: Iterable[FundMovementRow],
    out: BinaryIO,
    *,
    account_ref: str,
    currency: str,
    opening_balance: Decimal,
    opening_date: date,
    reference: str = "STMT",
    statement_no: str = "1/1",
) -> None:
    """One MT940 statement; the closing balance is computed from the movements. ``memo`` lines
    (at most 65 characters each) become :86:, ``business_ref`` the account-owner reference and
    ``bank_ref`` the ``//`` bank reference; a reversal is written RC/RD."""
    lines = [f":20:{reference}", f":25:{account_ref}", f":28C:{statement_no}"]
    mark = "C" if opening_balance >= 0 else "D"
    lines.append(f":60F:{mark}{opening_date:%y%m%d}{currency}{_swift_amount(abs(opening_balance))}")
    balance = opening_balance
    closing_date = opening_date
    for row in rows:
        credit = row.direction is Direction.CREDIT
        if row.is_reversal:
            code = "RD" if credit else "RC"
        else:
            code = "C" if credit else "D"
        value_date = row.value_date or row.booking_date
        reference_part = row.business_ref or "NONREF"
        bank_part = f"//{row.bank_ref}" if row.bank_ref else ""
        lines.append(
            f":61:{value_date:%y%m%d}{row.booking_date:%m%d}{code}{_swift_amount(row.amount)}NTRF{reference_part}{bank_part}"
        )
        memo_lines = row.memo.split("\n") if row.memo else []
        if any(len(line) > 65 for line in memo_lines):
            raise ValueError("MT940 :86: lines hold at most 65 characters")
        if memo_lines:
            lines.append(f":86:{memo_lines[0]}")
            lines.extend(memo_lines[1:])
        balance += row.amount if credit else -row.amount
        closing_date = max(closing_date, row.booking_date)
    mark = "C" if balance >= 0 else "D"
    lines.append(f":62F:{mark}{closing_date:%y%m%d}{currency}{_swift_amount(abs(balance))}")
    lines.append("-")
    out.write(("\r\n".join(lines) + "\r\n").encode("ascii"))
