"""Helpers every writer shares."""

from __future__ import annotations

import io
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import BinaryIO


def money(amount: Decimal, places: int = 2) -> str:
    """Fixed-point text; refuses to round (a writer must not change amounts silently)."""
    text = f"{amount:.{places}f}"
    if Decimal(text) != amount:
        raise ValueError(f"amount {amount} has more than {places} decimals")
    return text


def local(value: datetime, tz: tzinfo) -> str:
    local = value if value.tzinfo is tz else value.astimezone(tz)
    return local.isoformat(" ", "seconds")[:19]


class Text:
    """A text view of ``out`` that is flushed and detached (``out`` stays open) on exit."""

    def __init__(self, out: BinaryIO, encoding: str) -> None:
        self.stream = io.TextIOWrapper(out, encoding=encoding, newline="")

    def __enter__(self) -> io.TextIOWrapper:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        self.stream.detach()
