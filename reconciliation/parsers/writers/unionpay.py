"""Writers of unionPay ZM settlement files (and their zip)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, tzinfo
from decimal import Decimal
from typing import BinaryIO

from reconciliation.parsers.base import (
    DEFAULT_TZ,
    StatementLineRow,
)
from reconciliation.parsers.unionpay import ZM_FIELDS, ZM_LINE_BYTES, ZM_WRITE_CODES


def _zm_field(value: str, width: int, name: str, *, numeric: bool = False) -> bytes:
    data = value.encode("gb18030")
    if len(data) > width:
        raise ValueError(f"{name} {value!r} is longer than {width} bytes")
    return data.rjust(width, b"0") if numeric else data.ljust(width, b" ")


def _fen(amount: Decimal) -> str:
    fen = amount.scaleb(2)
    if fen != fen.to_integral_value():
        raise ValueError(f"amount {amount} is not a whole number of fen")
    return str(int(fen))


def _zm_record(row: StatementLineRow, tz: tzinfo) -> bytes:
    code = row.type_code or ZM_WRITE_CODES.get(row.line_type)
    if code is None:
        raise ValueError(f"no ZM 交易代码 for {row.line_type}; set type_code")
    when = row.occurred_at.astimezone(tz).strftime("%m%d%H%M%S") if row.occurred_at else "0000000000"
    fee_sign = "C" if row.fee < 0 else "D"
    values = {
        "交易代码": code,
        "交易传输时间": when,
        "交易金额": _fen(row.amount).rjust(12, "0"),
        "查询流水号": row.channel_txn_no,
        "商户订单号": row.txn_no,
        "商户手续费": fee_sign + _fen(abs(row.fee)).rjust(12, "0"),
        "结算金额": "C" + _fen(row.amount).rjust(12, "0"),
        "原交易查询流水号": row.original_channel_txn_no,
        "交易介质": "0",
    }
    parts = []
    for name, width in ZM_FIELDS:
        parts.append(_zm_field(values.get(name, ""), width, name))
    record = b" ".join(parts)
    if len(record) != ZM_LINE_BYTES:
        raise AssertionError("ZM record width drifted from the field table")  # pragma: no cover
    return record


def write_unionpay_zm(rows: Iterable[StatementLineRow], out: BinaryIO, *, tz: tzinfo = DEFAULT_TZ) -> None:
    """A bare ZM file (GBK, fixed width by bytes, CRLF line ends as UnionPay sends them)."""
    for row in rows:
        out.write(_zm_record(row, tz) + b"\r\n")


def write_unionpay_zip(
    rows: Iterable[StatementLineRow],
    out: BinaryIO,
    *,
    file_date: date,
    merchant_id: str = "898110148160001",
    error_lines: Sequence[str] = (),
    tz: tzinfo = DEFAULT_TZ,
) -> None:
    """The ZIP UnionPay delivers: ``INN<yymmdd>88ZM_<merId>`` and the ZME error file."""
    stamp = file_date.strftime("%y%m%d")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open(f"INN{stamp}88ZM_{merchant_id}", "w") as target:
            write_unionpay_zm(rows, target, tz=tz)
        archive.writestr(f"INN{stamp}88ZME_{merchant_id}", "".join(f"{line}\r\n" for line in error_lines).encode("gb18030"))
