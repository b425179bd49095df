"""Statement parsers: channel files in, typed rows out. Pure Python, no Django, no global state.

``FORMATS`` is the registry of format codes; ``parse(code, source, **options)`` dispatches to the
format's parser. GENERIC needs ``config=GenericFormatConfig``; its kind comes from that config. The
parsers that expand archives (UnionPay, Alipay, GENERIC's XLSX) take ``archive_limits=ArchiveLimits``.
Refusals and warnings carry a ``Message`` (a ``Code`` and its parameters, ``messages.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import alipay, camt053, generic, mt940, unionpay, wechat
from .base import (
    DEFAULT_ARCHIVE_LIMITS,
    ArchiveLimits,
    ArchiveRefused,
    BatchItem,
    Direction,
    FundMovementRow,
    LineStatus,
    LineType,
    ParsedStatement,
    ParseWarning,
    Source,
    StatementKind,
    StatementLineRow,
    StatementMetadata,
    StatementParseError,
    StatementTotals,
)
from .detect import Detected, detect
from .generic import FormatConfigError, GenericFormatConfig
from .messages import Code, Message, MessageCode


@dataclass(frozen=True, slots=True)
class FormatSpec:
    code: str
    kind: StatementKind | None  # None: decided by the configuration (GENERIC)
    label: str
    parse: Callable[..., ParsedStatement]
    raw_fields: Callable[..., list[tuple[str, str]]]


FORMATS: dict[str, FormatSpec] = {
    spec.code: spec
    for spec in (
        FormatSpec("WECHAT_TRADE", StatementKind.BUSINESS, "WeChat Pay trade bill", wechat.parse_trade, wechat.raw_fields),
        FormatSpec("WECHAT_FUND", StatementKind.FUND, "WeChat Pay fund-flow bill", wechat.parse_fund, wechat.raw_fields),
        FormatSpec(
            "ALIPAY_TRADE", StatementKind.BUSINESS, "Alipay business detail (trade)", alipay.parse_trade, alipay.raw_fields
        ),
        FormatSpec("ALIPAY_ACCOUNT", StatementKind.FUND, "Alipay account detail (fund)", alipay.parse_account, alipay.raw_fields),
        FormatSpec(
            "UNIONPAY_ZM", StatementKind.BUSINESS, "UnionPay online ZM settlement file", unionpay.parse_zm, unionpay.raw_fields
        ),
        FormatSpec("MT940", StatementKind.FUND, "SWIFT MT940 statement", mt940.parse, mt940.raw_fields),
        FormatSpec("CAMT053", StatementKind.FUND, "ISO 20022 camt.053 statement", camt053.parse, camt053.raw_fields),
        FormatSpec("GENERIC", None, "Configurable CSV/XLSX statement", generic.parse, generic.raw_fields),
    )
}


# Columns of the channels' raw files that hold a person's account or card number (masked on screens for
# staff without the personal-data permission): header names of the Chinese bills, camt.053 paths.
PERSONAL_RAW_COLUMNS = frozenset({"帐号", "对方账号", "对方账户", "对方账号名称", "付款账号", "收款账号", "用户标识"})
PERSONAL_RAW_SUFFIXES = ("DbtrAcct/Id/IBAN", "CdtrAcct/Id/IBAN", "DbtrAcct/Id/Othr/Id", "CdtrAcct/Id/Othr/Id")


def is_personal_raw_column(name: str) -> bool:
    return name in PERSONAL_RAW_COLUMNS or name.endswith(PERSONAL_RAW_SUFFIXES)


def parse(format_code: str, source: Source, **options: object) -> ParsedStatement:
    """Parse ``source`` (bytes or a binary file object) in the format ``format_code``."""
    spec = FORMATS.get(format_code)
    if spec is None:
        raise ValueError(f"unknown statement format {format_code!r}; known: {', '.join(FORMATS)}")
    return spec.parse(source, **options)


def raw_fields(format_code: str, raw: str, raw_columns: Sequence[str], **options: object) -> list[tuple[str, str]]:
    """A row's raw text as (field name, value) pairs, for display."""
    return FORMATS[format_code].raw_fields(raw, raw_columns, **options)


__all__ = [
    "DEFAULT_ARCHIVE_LIMITS",
    "FORMATS",
    "ArchiveLimits",
    "ArchiveRefused",
    "BatchItem",
    "Code",
    "Detected",
    "Direction",
    "FormatConfigError",
    "FormatSpec",
    "FundMovementRow",
    "GenericFormatConfig",
    "LineStatus",
    "LineType",
    "Message",
    "MessageCode",
    "ParseWarning",
    "ParsedStatement",
    "StatementKind",
    "StatementLineRow",
    "StatementMetadata",
    "StatementParseError",
    "StatementTotals",
    "detect",
    "is_personal_raw_column",
    "parse",
    "raw_fields",
]
