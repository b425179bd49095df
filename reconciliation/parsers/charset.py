"""Which text encoding a statement file is in, when the channel does not say or the clerk re-saved it.

Two situations, two rules:
- Chinese channel bills (WeChat, Alipay) are UTF-8 or GBK. Their header names are Chinese, so the head of
  the file tells the two apart for certain: a byte-order mark, else whether the head decodes as strict
  UTF-8, else GB18030 (the superset of GBK). The head is enough, and it keeps a million-row bill streaming.
- MT940 is ASCII by the standard, but banks write names in :86: in Latin-1, CP1252 or (old DOS exports)
  CP437. Nothing in the file says which; the whole file is read once: valid UTF-8 wins, else the
  single-byte code page whose reading of the non-ASCII bytes gives the most plausible Western text.

An explicit ``encoding`` option always overrides detection.
"""

from __future__ import annotations

import codecs
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import BinaryIO

from .base import StatementParseError
from .messages import Code, Message

HEAD_BYTES = 1 << 16  # the head sampled for a Chinese bill: its header line and the first rows
_GB18030_BOM = b"\x84\x31\x95\x33"
_ASCII = bytes(range(128))
# Tried in this order; on a tie the first wins (CP1252 is what Windows writes, Latin-1 its subset).
SINGLE_BYTE = ("cp1252", "latin-1", "cp437")


def checked(encoding: str) -> str:
    """The codec's canonical name, or a refusal naming the unknown encoding."""
    try:
        return codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise StatementParseError(Message(Code.UNKNOWN_ENCODING, encoding=repr(encoding)), field="encoding") from None


def head_of(stream: BinaryIO, size: int = HEAD_BYTES) -> bytes:
    """Up to ``size`` leading bytes of ``stream`` without consuming them (seekable or buffered streams)."""
    if stream.seekable():
        position = stream.tell()
        head = stream.read(size)
        stream.seek(position)
        return head
    peek = getattr(stream, "peek", None)
    return peek(size)[:size] if peek is not None else b""


def _refuse_utf16(head: bytes) -> None:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise StatementParseError(Message(Code.UTF16_TEXT), line=1)


def bill_encoding(head: bytes, *, default: str) -> str:
    """The encoding of a Chinese channel bill from its head: BOM, else strict UTF-8, else GB18030.

    A head of plain ASCII says nothing: the channel's ``default`` is kept."""
    _refuse_utf16(head)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if head.startswith(_GB18030_BOM):
        return "gb18030"
    if head.isascii():
        return default
    try:
        # Not final: the sample may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def western_encoding(lines: Iterable[bytes]) -> str:
    """The encoding of a Western bank file (MT940) read line by line: UTF-8 when every line is valid
    UTF-8 (a BOM counts), else the most plausible of CP1252, Latin-1 and CP437 over all its bytes."""
    high: Counter[int] = Counter()
    utf8 = True
    first = True
    for data in lines:
        if first:
            _refuse_utf16(data)
            if data.startswith(codecs.BOM_UTF8):
                return "utf-8"
            first = False
        if data.isascii():
            continue
        rest = data.translate(None, _ASCII)
        high.update(rest)
        if utf8:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        return "utf-8"
    best, best_score = SINGLE_BYTE[0], None
    for encoding in SINGLE_BYTE:
        score = _plausibility(high, encoding)
        if score is not None and (best_score is None or score > best_score):
            best, best_score = encoding, score
    return best


def _plausibility(high: Counter[int], encoding: str) -> int | None:
    """How much the non-ASCII bytes read like Western text in ``encoding``; None if one is undefined."""
    score = 0
    for byte, count in high.items():
        try:
            char = bytes((byte,)).decode(encoding)
        except UnicodeDecodeError:
            return None
        score += count * _weight(char)
    return score


def _weight(char: str) -> int:
    category = unicodedata.category(char)
    if category[0] == "L":
        # Accented Latin letters (À-ſ, plus the CP1252 additions) are what bank texts hold; a Greek
        # letter or a superscript is what a wrong code page produces.
        return 2 if "\u00c0" <= char <= "\u017f" or char in "ƒŒœŠšŽžŸ" else 0
    if category == "Sc" or category[0] == "P":
        return 1  # €, £, quotes, dashes
    if category[0] == "C":
        return -5  # control characters (Latin-1's 0x80-0x9F): not text
    return -1  # box drawing, maths symbols
