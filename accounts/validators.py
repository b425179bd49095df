"""Checks of Chinese identity numbers, so a typo is refused at the field that holds it."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_RESIDENT_ID = re.compile(r"^\d{17}[\dX]$")
_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK = "10X98765432"

# GB 32100-2015: 18 characters from this alphabet (no I, O, S, V, Z); the last is a check character.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def resident_id_check_char(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _RESIDENT_WEIGHTS, strict=True))
    return _RESIDENT_CHECK[total % 11]


def validate_resident_id(value: str) -> None:
    """居民身份证 (GB 11643-1999): 18 characters, the last one a checksum."""
    if not _RESIDENT_ID.match(value or ""):
        raise ValidationError(_("A resident ID number has 17 digits followed by a digit or X."), code="format")
    if resident_id_check_char(value[:17]) != value[17]:
        raise ValidationError(_("The resident ID number's check digit is wrong."), code="checksum")


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> None:
    """统一社会信用代码 (GB 32100-2015)."""
    if not _USCC.match(value or ""):
        raise ValidationError(
            _("A unified social credit code has 18 characters: digits and capital letters except I, O, S, V, Z."),
            code="format",
        )
    if uscc_check_char(value[:17]) != value[17]:
        raise ValidationError(_("The unified social credit code's check character is wrong."), code="checksum")


def validate_mcc(value: str) -> None:
    if not re.fullmatch(r"\d{4}", value or ""):
        raise ValidationError(_("A merchant category code (MCC) has exactly 4 digits."), code="format")
