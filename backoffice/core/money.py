"""Money helpers: amounts are Decimal with an ISO 4217 currency, never float."""

from __future__ import annotations

import decimal
from decimal import Decimal

# Minor units (decimal places) of the currencies we settle in (ISO 4217).
MINOR_UNITS: dict[str, int] = {
    "CNY": 2,
    "HKD": 2,
    "MOP": 2,
    "TWD": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "SGD": 2,
    "AUD": 2,
    "CAD": 2,
    "CHF": 2,
    "JPY": 0,
    "KRW": 0,
}

CURRENCY_CHOICES = [(code, code) for code in MINOR_UNITS]

# Column sizes for every money field (STYLE.md §5).
MONEY_DIGITS = 19
MONEY_PLACES = 4


class Rounding:
    HALF_UP = decimal.ROUND_HALF_UP
    HALF_EVEN = decimal.ROUND_HALF_EVEN
    DOWN = decimal.ROUND_DOWN


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of the currency, e.g. Decimal('0.01') for CNY, Decimal('1') for JPY."""
    try:
        places = MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"unsupported currency {currency!r}") from None
    return Decimal(1).scaleb(-places)


def quantize_money(amount: Decimal, currency: str, rounding: str) -> Decimal:
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Decimal, got {type(amount).__name__}")
    return amount.quantize(minor_unit(currency), rounding=rounding)


def is_on_minor_unit(amount: Decimal, currency: str) -> bool:
    return amount == amount.quantize(minor_unit(currency))


def format_money(amount: Decimal | None, currency: str = "") -> str:
    """1234567.5 CNY -> '1,234,567.50 CNY' (grouped, fixed to the currency's minor unit)."""
    if amount is None:
        return ""
    places = MINOR_UNITS.get(currency, 2)
    text = f"{amount.quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP):,.{places}f}"
    return f"{text} {currency}".strip()


def plain_decimal(value: Decimal, min_places: int = 2) -> str:
    """A decimal as people write it: no exponent, no trailing zeros beyond ``min_places``.

    Decimal('0E-8') -> '0.00', Decimal('2.0000') -> '2.00', Decimal('0.00600000') -> '0.006'.
    """
    whole, _, fraction = f"{value.normalize():f}".partition(".")
    fraction = fraction.ljust(min_places, "0")
    return f"{whole}.{fraction}" if fraction else whole


def money_str(amount: Decimal | None, currency: str) -> str | None:
    """An amount as a plain decimal string on the currency's minor unit (API and JSON output)."""
    if amount is None:
        return None
    return str(amount.quantize(minor_unit(currency), rounding=decimal.ROUND_HALF_UP))
