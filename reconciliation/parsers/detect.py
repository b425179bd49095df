"""Recognise a statement's format from its content alone (never from the file name).

Looks at the first bytes (and, for archives, at the member names and heads inside): ZIP -> UnionPay
ZM, Alipay or camt.053 (an ``*.xml`` member); XML with a camt.053 namespace; a WeChat header line; an
Alipay GBK comment header; MT940 tags; a ZM fixed-width record. Generic formats are never detected:
they need their configuration. The statement date is a guess from the content where it tells one:
Alipay ``#起始日期``, the MT940 ``:60F:`` date, the camt ``ToDtTm`` (a UTC one as its date in
Asia/Shanghai, as the parser reads it; else the closing balance date), the most frequent date of
WeChat rows (within the sampled head), the ZM member's ``INN<yymmdd>`` stamp.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import date, datetime, timedelta
from typing import NamedTuple

from .base import (
    DEFAULT_ARCHIVE_LIMITS,
    DEFAULT_TZ,
    ZIP_MAGIC,
    Archive,
    ArchiveLimits,
    ArchiveRefused,
    StatementKind,
    StatementParseError,
)
from .charset import bill_encoding
from .personal import SCAN_LINES, channel_of, refuse_if_personal
from .unionpay import looks_like_zm

HEAD_BYTES = 1 << 20  # enough to see headers and a large sample of rows


class Detected(NamedTuple):
    format: str
    kind: StatementKind
    statement_date: date | None


_CAMT = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.\d\d")
_CAMT_TO = re.compile(rb"<(?:\w+:)?ToDtTm>\s*(\d{4}-\d\d-\d\d[^<]*)")
_CAMT_CLOSING = re.compile(rb"CLBD</(?:\w+:)?Cd>.*?<(?:\w+:)?Dt>(\d{4}-\d\d-\d\d)", re.S)
_MT940_OPENING = re.compile(r"^:60[FM]:[CD](\d{2})(\d{2})(\d{2})", re.M)
_ALIPAY_START = re.compile(r"起始日期：\[(\d{4})年(\d{2})月(\d{2})日")
_ZM_MEMBER = re.compile(r"INN(\d{2})(\d{2})(\d{2})\d\dZM_")
_DAY = re.compile(r"^`?(\d{4}-\d\d-\d\d)", re.M)


def detect(data: bytes, *, archive_limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS) -> Detected | None:
    """The format and kind of ``data``, with a statement-date guess; None when not recognised.

    A ZIP archive is opened under ``archive_limits``; one they refuse (too many members, an unsafe member
    name, a member that would expand past them) raises ArchiveRefused with the reason. A consumer's
    (personal) WeChat Pay or Alipay bill, or UTF-16 text, raises StatementParseError saying so."""
    head = data[:HEAD_BYTES]
    if head.startswith(ZIP_MAGIC):
        return _detect_zip(data, archive_limits)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        return _detect_camt(stripped)
    # A bill re-saved in another encoding (a WeChat bill as GBK, an Alipay one as UTF-8) is read in its own.
    text = head.decode(bill_encoding(head, default="utf-8"), errors="ignore")
    _refuse_personal(text)
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    if "交易时间" in first_line and "微信订单号" in first_line:
        return Detected("WECHAT_TRADE", StatementKind.BUSINESS, _dominant_day(text))
    if "记账时间" in first_line and "资金流水单号" in first_line:
        return Detected("WECHAT_FUND", StatementKind.FUND, _dominant_day(text))
    alipay = _detect_alipay(head)
    if alipay is not None:
        return alipay
    if re.search(r"^:20:", text, re.M) and _MT940_OPENING.search(text):
        opening = _MT940_OPENING.search(text)
        return Detected("MT940", StatementKind.FUND, _safe_date(2000 + int(opening[1]), opening[2], opening[3]))
    if looks_like_zm(head.split(b"\n", 1)[0]):
        return Detected("UNIONPAY_ZM", StatementKind.BUSINESS, None)
    return None


def _refuse_personal(text: str) -> None:
    """A consumer's WeChat Pay or Alipay bill is refused as such, whatever channel it is uploaded under."""
    lines = text.lstrip("\ufeff").splitlines()[:SCAN_LINES]
    for line_no, raw in enumerate(lines, start=1):
        if channel_of(raw, [field.strip().strip("\t") for field in raw.split(",")]) is not None:
            refuse_if_personal(iter(()), (line_no, raw, raw.split(",")))


def _safe_date(year: int, month: str, day: str) -> date | None:
    try:
        return date(year, int(month), int(day))
    except ValueError:
        return None


def _dominant_day(text: str) -> date | None:
    days = Counter(_DAY.findall(text.split("\n", 1)[1] if "\n" in text else ""))
    if not days:
        return None
    try:
        return date.fromisoformat(days.most_common(1)[0][0])
    except ValueError:
        return None


def _detect_camt(head: bytes) -> Detected | None:
    if not _CAMT.search(head[:4096]):
        return None
    found = _CAMT_TO.search(head) or _CAMT_CLOSING.search(head)
    statement_date = _camt_date(found[1].decode("ascii", errors="ignore").strip()) if found else None
    return Detected("CAMT053", StatementKind.FUND, statement_date)


def _camt_date(text: str) -> date | None:
    """The date of a camt date or date-time, as the parser reads it: a UTC time in the product's zone."""
    try:
        if "T" not in text:
            return date.fromisoformat(text[:10])
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(DEFAULT_TZ).date() if moment.utcoffset() == timedelta(0) else moment.date()


def _detect_alipay(head: bytes) -> Detected | None:
    text = head[:65536].decode("gb18030", errors="ignore")
    if not text.startswith("#支付宝"):
        return None
    start = _ALIPAY_START.search(text)
    statement_date = _safe_date(int(start[1]), start[2], start[3]) if start else None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if "支付宝交易号" in line:
            return Detected("ALIPAY_TRADE", StatementKind.BUSINESS, statement_date)
        if "账务流水号" in line:
            return Detected("ALIPAY_ACCOUNT", StatementKind.FUND, statement_date)
        return None
    return None


def _detect_zip(data: bytes, limits: ArchiveLimits) -> Detected | None:
    try:
        return _detect_members(Archive(io.BytesIO(data), limits))
    except ArchiveRefused:
        raise
    except StatementParseError:
        return None  # not a readable archive


def _detect_members(archive: Archive) -> Detected | None:
    names = archive.names
    for name in names:
        stamp = _ZM_MEMBER.search(name)
        if stamp:
            return Detected("UNIONPAY_ZM", StatementKind.BUSINESS, _safe_date(2000 + int(stamp[1]), stamp[2], stamp[3]))
    for name in names:
        if name.lower().endswith(".xml"):
            with archive.open(name) as member:
                found = _detect_camt(member.read(HEAD_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n"))
            if found is not None:
                return found
    for name in names:
        if name.endswith(".csv") and "汇总" not in name:
            with archive.open(name) as member:  # refused here if it declares a zip bomb's sizes
                found = _detect_alipay(member.read(HEAD_BYTES))
            if found is not None:
                return found
    return None
