"""Plain helpers for tests (fixtures live in conftest.py)."""

from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_dt(*args) -> datetime:
    """An aware datetime in the product's time zone."""
    return datetime(*args, tzinfo=SHANGHAI)
