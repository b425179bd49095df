"""Money: amounts are Decimal with an ISO 4217 currency, never float.

One helper per idea: ``to_minor_unit`` is the only rounding of an amount to its currency's smallest
unit; ``format_money`` the only way an amount is shown to a person, ``money_str`` the only way it is
written as data (API, JSON); ``money_field`` and ``currency_field`` the only model fields that hold them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

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

# Column sizes for every money field (STYLE.md §5): room for 10^15 with four decimals, so rates and
# fees below the minor unit can be stored before they are rounded.
MONEY_DIGITS = 19
MONEY_PLACES = 4
# Decimal places shown for an amount whose currency is not known (a blank currency on a form).
DISPLAY_PLACES = 2


def minor_places(currency: str) -> int:
    """Decimal places of the currency's smallest unit: 2 for CNY, 0 for JPY."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"unsupported currency {currency!r}") from None


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of the currency, e.g. Decimal('0.01') for CNY, Decimal('1') for JPY."""
    return Decimal(1).scaleb(-minor_places(currency))


def to_minor_unit(amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``amount`` rounded to the currency's smallest unit with ``rounding`` (a ``decimal`` module mode,
    as fee models store it). The one place amounts are rounded."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Decimal, got {type(amount).__name__}")
    return amount.quantize(minor_unit(currency), rounding=rounding)


def is_on_minor_unit(amount: Decimal, currency: str) -> bool:
    return amount == amount.quantize(minor_unit(currency))


def validate_currency(value: str) -> None:
    if value not in MINOR_UNITS:
        raise ValidationError(_("Unknown or unsupported currency code %(code)s."), params={"code": value}, code="currency")


def format_money(amount: Decimal | None, currency: str = "") -> str:
    """1234567.5 CNY -> '1,234,567.50 CNY' (grouped, on the currency's minor unit); for people."""
    if amount is None:
        return ""
    if currency in MINOR_UNITS:
        amount, places = to_minor_unit(amount, currency), MINOR_UNITS[currency]
    else:
        places = DISPLAY_PLACES
        amount = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{amount:,.{places}f} {currency}".strip()


def money_str(amount: Decimal | None, currency: str) -> str | None:
    """An amount as a plain decimal string on the currency's minor unit (API and JSON output)."""
    if amount is None:
        return None
    return str(to_minor_unit(amount, currency))


def plain_decimal(value: Decimal, min_places: int = 2) -> str:
    """A decimal as people write it: no exponent, no trailing zeros beyond ``min_places``.

    Decimal('0E-8') -> '0.00', Decimal('2.0000') -> '2.00', Decimal('0.00600000') -> '0.006'.
    """
    whole, _point, fraction = f"{value.normalize():f}".partition(".")
    fraction = fraction.ljust(min_places, "0")
    return f"{whole}.{fraction}" if fraction else whole


def format_percent(rate: Decimal | None) -> str:
    """A rate given as a fraction, as a percentage: 0.006 -> '0.60%' (more decimals when it has them)."""
    if rate is None:
        return ""
    return f"{plain_decimal(rate * 100)}%"


def money_field(verbose_name, **kwargs) -> models.DecimalField:
    """A money amount (its currency is a ``currency_field`` beside it)."""
    return models.DecimalField(verbose_name, max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, **kwargs)


class CurrencyField(models.CharField):
    """The ISO 4217 code of a currency we settle in. The database checks it too: the model gets a CHECK
    constraint ``<model>_<field>_supported`` restricting the column to the supported currencies (and ''
    where the field may be blank), so a bulk write (COPY, ``update()``) cannot store an unknown code
    either. Adding a currency to MINOR_UNITS changes the constraint, and makemigrations follows."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("choices", CURRENCY_CHOICES)
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls, name, private_only=False):
        super().contribute_to_class(cls, name, private_only)
        if cls._meta.abstract:
            return  # each concrete model gets its own constraint
        if cls.__module__ == "__fake__":
            return  # a model rendered from a migration's state: its migrations list the constraint themselves
        allowed = [code for code, _label in self.flatchoices] + ([""] if self.blank else [])
        check = models.CheckConstraint(
            condition=models.Q(**{f"{name}__in": allowed}), name=f"{cls._meta.model_name}_{name}_supported"
        )
        # A new list: Meta.constraints may be shared with the Meta class it came from.
        cls._meta.constraints = [*cls._meta.constraints, check]


def currency_field(verbose_name=None, **kwargs) -> CurrencyField:
    return CurrencyField(verbose_name or _("currency"), **kwargs)
