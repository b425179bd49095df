"""Render statement rows back into each channel's file format.

The inverse of ``reconciliation.parsers``: used for test fixtures, the demo-data seeder and the
intake benchmark. Every writer computes the summaries, footers and balances its format declares, so
its output parses with ``strict_totals=True``. Fields a format cannot carry are left out (and come
back empty or None when parsed); values a format cannot express raise ``ValueError``.

Each writer has the shape ``write_x(rows, out, **options) -> None`` and streams to the binary file
object ``out``; ``render(write_x, rows, **options)`` returns the bytes instead.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

from reconciliation.parsers.writers.alipay import write_alipay_account, write_alipay_trade
from reconciliation.parsers.writers.camt053 import write_camt053
from reconciliation.parsers.writers.generic import write_generic_csv
from reconciliation.parsers.writers.mt940 import write_mt940
from reconciliation.parsers.writers.unionpay import write_unionpay_zip, write_unionpay_zm
from reconciliation.parsers.writers.wechat import write_wechat_fund, write_wechat_trade

__all__ = [
    "render",
    "write_wechat_trade",
    "write_wechat_fund",
    "write_alipay_trade",
    "write_alipay_account",
    "write_unionpay_zm",
    "write_unionpay_zip",
    "write_mt940",
    "write_camt053",
    "write_generic_csv",
]


def render(write: Callable[..., None], rows: Iterable, **options: object) -> bytes:
    """Run a writer into memory and return the file's bytes."""
    buffer = io.BytesIO()
    write(rows, buffer, **options)
    return buffer.getvalue()
