"""Plain helpers for tests (fixtures live in conftest.py)."""

from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_dt(*args) -> datetime:
    """An aware datetime in the product's time zone."""
    return datetime(*args, tzinfo=SHANGHAI)


def wechat_rows(count: int = 3, *, start: int = 1, day: tuple = (2026, 11, 24), **overrides):
    """Successful WeChat collections P00000001… of 6.00 CNY (fee 0.04) on ``day``."""
    from decimal import Decimal

    from reconciliation.parsers.base import LineStatus, LineType, StatementLineRow

    return [
        StatementLineRow(
            start + i, f"4200000{start + i:021d}", f"P{start + i:08d}", LineType.COLLECTION, LineStatus.SUCCESS,
            Decimal("6.00"), Decimal("0.04"), "CNY", local_dt(*day, 10, 0, i % 60), None, fee_rate=Decimal("0.006"),
        )._replace(**overrides)
        for i in range(count)
    ]


def wechat_bill(rows) -> bytes:
    """A WeChat Pay trade bill (current layout) holding ``rows``."""
    from reconciliation.statement_writers import render, write_wechat_trade

    return render(write_wechat_trade, rows)
