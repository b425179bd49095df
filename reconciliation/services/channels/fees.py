"""Fee computation: what a channel charges us for a transaction, and the net settlement.

``fee_compute`` is pure (no database) so it can be property-tested; ``fee_quote`` picks the fee
model valid at the transaction's time and applies it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from django.db.models import Q

from backoffice.core.money import to_minor_unit
from reconciliation.models import Channel, FeeModel


class NoFeeModel(Exception):
    """No fee model of the channel and business type is valid at the given time."""

    def __init__(self, channel_code: str, business_type: str, at: datetime):
        self.channel_code, self.business_type, self.at = channel_code, business_type, at
        super().__init__(f"no fee model for channel {channel_code}, business type {business_type} at {at.isoformat()}")


@dataclass(frozen=True)
class TierSpec:
    lower_bound: Decimal
    rate: Decimal
    fixed_amount: Decimal


@dataclass(frozen=True)
class FeeSpec:
    """Everything the computation needs from a fee model, detached from the database."""

    currency: str
    rate: Decimal
    fixed_amount: Decimal
    min_fee: Decimal | None
    max_fee: Decimal | None
    rounding: str
    charging_mode: str
    tiers: tuple[TierSpec, ...] = ()

    @classmethod
    def flat_rate(cls, rate: Decimal, currency: str = "CNY") -> FeeSpec:
        """A plain percentage (WeChat's and Alipay's 0.6 %), rounded half up, deducted from the settlement."""
        return cls(currency, rate, Decimal(0), None, None, ROUND_HALF_UP, FeeModel.ChargingMode.INTERNAL)

    @classmethod
    def of(cls, fee_model: FeeModel) -> FeeSpec:
        tiers = tuple(
            TierSpec(t.lower_bound, t.rate, t.fixed_amount) for t in sorted(fee_model.tiers.all(), key=lambda t: t.lower_bound)
        )
        return cls(
            currency=fee_model.channel.currency,
            rate=fee_model.rate,
            fixed_amount=fee_model.fixed_amount,
            min_fee=fee_model.min_fee,
            max_fee=fee_model.max_fee,
            rounding=fee_model.rounding,
            charging_mode=fee_model.charging_mode,
            tiers=tiers,
        )


@dataclass(frozen=True)
class FeeQuote:
    amount: Decimal
    currency: str
    fee: Decimal
    # What the channel settles for this transaction: amount - fee when the fee is deducted (内扣),
    # the full amount when the fee is billed separately (外扣).
    net_amount: Decimal
    # The fee billed apart from the settlement (外扣), to the fee model's charged account; 0 for 内扣.
    separately_billed_fee: Decimal
    charging_mode: str
    fee_model_id: int | None = None
    charged_account_id: int | None = None


def _bracket(spec: FeeSpec, amount: Decimal) -> tuple[Decimal, Decimal]:
    """The (rate, fixed) applying to the whole amount: its tier's, or the model's below the first tier."""
    if not spec.tiers:
        return spec.rate, spec.fixed_amount
    bounds = [t.lower_bound for t in spec.tiers]
    index = bisect_right(bounds, amount) - 1  # lower bounds are inclusive
    if index < 0:
        return spec.rate, spec.fixed_amount
    tier = spec.tiers[index]
    return tier.rate, tier.fixed_amount


def fee_compute(*, spec: FeeSpec, amount: Decimal) -> FeeQuote:
    """Fee for ``amount`` under ``spec``: rate × amount + fixed, rounded, then held within min/max.

    Rounding comes first and min/max last, so the result is always on the currency's minor unit
    and never outside [min, max] (both are stored on the minor unit).
    """
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be Decimal, got {type(amount).__name__}")
    if amount < 0:
        raise ValueError("amount must not be negative; the business type carries the direction")
    rate, fixed = _bracket(spec, amount)
    fee = to_minor_unit(amount * rate + fixed, spec.currency, spec.rounding)
    if spec.min_fee is not None and fee < spec.min_fee:
        fee = to_minor_unit(spec.min_fee, spec.currency, spec.rounding)
    if spec.max_fee is not None and fee > spec.max_fee:
        fee = to_minor_unit(spec.max_fee, spec.currency, spec.rounding)
    internal = spec.charging_mode == FeeModel.ChargingMode.INTERNAL
    return FeeQuote(
        amount=amount,
        currency=spec.currency,
        fee=fee,
        net_amount=amount - fee if internal else amount,
        separately_billed_fee=Decimal(0) if internal else fee,
        charging_mode=spec.charging_mode,
    )


def fee_function(spec: FeeSpec) -> Callable[[Decimal], Decimal]:
    """``amount -> fee`` under ``spec``, remembered per amount: for code that prices many rows (demo data,
    simulations) without repeating the computation of ``fee_compute``."""

    @lru_cache(maxsize=1 << 16)
    def fee(amount: Decimal) -> Decimal:
        return fee_compute(spec=spec, amount=amount).fee

    return fee


def fee_model_valid_at(*, channel: Channel, business_type: str, at: datetime) -> FeeModel:
    """The one fee model valid at ``at`` (validity periods never overlap: a database constraint)."""
    fee_model = (
        FeeModel.objects.select_related("channel")
        .prefetch_related("tiers")
        .filter(channel=channel, business_type=business_type, valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .first()
    )
    if fee_model is None:
        raise NoFeeModel(channel.code, business_type, at)
    return fee_model


def fee_quote(*, channel: Channel, business_type: str, amount: Decimal, at: datetime) -> FeeQuote:
    fee_model = fee_model_valid_at(channel=channel, business_type=business_type, at=at)
    quote = fee_compute(spec=FeeSpec.of(fee_model), amount=amount)
    return replace(quote, fee_model_id=fee_model.id, charged_account_id=fee_model.charged_account_id)
