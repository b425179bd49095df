"""Fee service: property tests of the pure computation, and model selection by validity."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from helpers import local_dt
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.models import BusinessType, FeeModel, FeeTier
from reconciliation.services.channels.fees import FeeSpec, NoFeeModel, TierSpec, fee_compute, fee_quote

INTERNAL = FeeModel.ChargingMode.INTERNAL
EXTERNAL = FeeModel.ChargingMode.EXTERNAL

amounts = st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2, allow_nan=False, allow_infinity=False)
rates = st.decimals(min_value=0, max_value=Decimal("0.05"), places=6, allow_nan=False, allow_infinity=False)
fixeds = st.decimals(min_value=0, max_value=Decimal("50"), places=2, allow_nan=False, allow_infinity=False)
roundings = st.sampled_from([ROUND_HALF_UP, ROUND_HALF_EVEN, ROUND_DOWN])
modes = st.sampled_from([INTERNAL, EXTERNAL])


@st.composite
def specs(draw, with_limits=True):
    min_fee = max_fee = None
    if with_limits and draw(st.booleans()):
        min_fee = draw(fixeds)
    if with_limits and draw(st.booleans()):
        max_fee = draw(fixeds) + (min_fee or 0)
    return FeeSpec(
        currency="CNY",
        rate=draw(rates),
        fixed_amount=draw(fixeds),
        min_fee=min_fee,
        max_fee=max_fee,
        rounding=draw(roundings),
        charging_mode=draw(modes),
    )


@settings(max_examples=300)
@given(spec=specs(), amount=amounts)
def test_fee_is_decimal_on_minor_unit_and_within_limits(spec, amount):
    quote = fee_compute(spec=spec, amount=amount)
    assert isinstance(quote.fee, Decimal) and isinstance(quote.net_amount, Decimal)
    assert quote.fee == quote.fee.quantize(Decimal("0.01"))
    if spec.min_fee is not None:
        assert quote.fee >= spec.min_fee
    if spec.max_fee is not None:
        assert quote.fee <= spec.max_fee


@settings(max_examples=300)
@given(spec=specs(with_limits=False), amount=amounts)
def test_rounding_is_the_configured_one(spec, amount):
    exact = amount * spec.rate + spec.fixed_amount
    quote = fee_compute(spec=spec, amount=amount)
    assert quote.fee == exact.quantize(Decimal("0.01"), rounding=spec.rounding)
    assert abs(quote.fee - exact) < Decimal("0.01")
    if spec.rounding == ROUND_DOWN:
        assert quote.fee <= exact


@settings(max_examples=300)
@given(spec=specs(), amount=amounts)
def test_internal_nets_the_fee_external_bills_it(spec, amount):
    quote = fee_compute(spec=spec, amount=amount)
    if spec.charging_mode == INTERNAL:
        assert quote.net_amount == amount - quote.fee
        assert quote.separately_billed_fee == 0
    else:
        assert quote.net_amount == amount
        assert quote.separately_billed_fee == quote.fee
    assert quote.net_amount + quote.fee - quote.separately_billed_fee == amount


@settings(max_examples=200)
@given(
    bounds=st.lists(st.decimals(min_value=1, max_value=100000, places=2), min_size=1, max_size=4, unique=True),
    tier_rates=st.lists(rates, min_size=4, max_size=4),
    base_rate=rates,
)
def test_tier_boundaries_are_exact(bounds, tier_rates, base_rate):
    bounds = sorted(bounds)
    tiers = tuple(TierSpec(b, r, Decimal(0)) for b, r in zip(bounds, tier_rates, strict=False))
    spec = FeeSpec(
        currency="CNY",
        rate=base_rate,
        fixed_amount=Decimal(0),
        min_fee=None,
        max_fee=None,
        rounding=ROUND_HALF_UP,
        charging_mode=INTERNAL,
        tiers=tiers,
    )
    for index, tier in enumerate(tiers):
        # Exactly on the lower bound: this tier. One cent below: the previous tier (or the base rate).
        at = fee_compute(spec=spec, amount=tier.lower_bound)
        assert at.fee == (tier.lower_bound * tier.rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        below_amount = tier.lower_bound - Decimal("0.01")
        below_rate = tiers[index - 1].rate if index > 0 and below_amount >= tiers[index - 1].lower_bound else base_rate
        below = fee_compute(spec=spec, amount=below_amount)
        assert below.fee == (below_amount * below_rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_worked_example_wechat_060_half_up():
    spec = FeeSpec(
        currency="CNY",
        rate=Decimal("0.006"),
        fixed_amount=Decimal(0),
        min_fee=None,
        max_fee=None,
        rounding=ROUND_HALF_UP,
        charging_mode=INTERNAL,
    )
    # 6.00 * 0.6% = 0.036 -> 0.04 (the WeChat sample's fee); 0.75 * 0.6% = 0.0045 -> 0.00
    assert fee_compute(spec=spec, amount=Decimal("6.00")).fee == Decimal("0.04")
    assert fee_compute(spec=spec, amount=Decimal("0.75")).fee == Decimal("0.00")
    half_even = replace(spec, rounding=ROUND_HALF_EVEN)
    # 2.50 * 0.6% = 0.015 -> 0.02 (to even); 4.25 * 0.6% = 0.0255 -> 0.03 (above half)
    assert fee_compute(spec=half_even, amount=Decimal("2.50")).fee == Decimal("0.02")
    assert fee_compute(spec=half_even, amount=Decimal("4.25")).fee == Decimal("0.03")
    assert fee_compute(spec=half_even, amount=Decimal("0.75")).fee == Decimal("0.00")
    # 0.25 * 0.6% = 0.0015 -> half-up 0.00 (below a cent's half), so the minimum applies
    with_min = replace(spec, min_fee=Decimal("0.01"))
    assert fee_compute(spec=with_min, amount=Decimal("0.25")).fee == Decimal("0.01")


def test_float_amount_is_refused():
    spec = FeeSpec(
        currency="CNY",
        rate=Decimal("0.006"),
        fixed_amount=Decimal(0),
        min_fee=None,
        max_fee=None,
        rounding=ROUND_HALF_UP,
        charging_mode=INTERNAL,
    )
    with pytest.raises(TypeError):
        fee_compute(spec=spec, amount=6.0)
    with pytest.raises(ValueError):
        fee_compute(spec=spec, amount=Decimal("-1"))


@pytest.mark.django_db
def test_quote_uses_the_model_valid_at_the_time(channel, make_fee_model):
    old = make_fee_model(channel, rate=Decimal("0.006"), valid_from=local_dt(2025, 1, 1), valid_to=local_dt(2026, 1, 1))
    new = make_fee_model(channel, rate=Decimal("0.0038"), valid_from=local_dt(2026, 1, 1))
    FeeTier.objects.create(fee_model=new, lower_bound=Decimal("10000"), rate=Decimal("0.002"))

    before = fee_quote(
        channel=channel, business_type=BusinessType.COLLECTION, amount=Decimal("1000"), at=local_dt(2025, 12, 31, 23, 59, 59)
    )
    after = fee_quote(channel=channel, business_type=BusinessType.COLLECTION, amount=Decimal("1000"), at=local_dt(2026, 1, 1))
    tiered = fee_quote(channel=channel, business_type=BusinessType.COLLECTION, amount=Decimal("10000"), at=local_dt(2026, 6, 1))

    assert (before.fee_model_id, before.fee) == (old.id, Decimal("6.00"))
    assert (after.fee_model_id, after.fee, after.net_amount) == (new.id, Decimal("3.80"), Decimal("996.20"))
    assert tiered.fee == Decimal("20.00")
    with pytest.raises(NoFeeModel):
        fee_quote(channel=channel, business_type=BusinessType.COLLECTION, amount=Decimal(1), at=local_dt(2024, 12, 31))
    with pytest.raises(NoFeeModel):
        fee_quote(channel=channel, business_type=BusinessType.PAYOUT, amount=Decimal(1), at=local_dt(2026, 1, 1))


@pytest.mark.django_db
def test_external_quote_names_the_charged_account(channel, general_account, make_fee_model):
    make_fee_model(
        channel,
        business_type=BusinessType.PAYOUT,
        rate=Decimal(0),
        fixed_amount=Decimal("2.00"),
        charging_mode=EXTERNAL,
        charged_account=general_account,
    )
    quote = fee_quote(channel=channel, business_type=BusinessType.PAYOUT, amount=Decimal("500.00"), at=local_dt(2026, 3, 1))
    assert (quote.fee, quote.net_amount, quote.separately_billed_fee) == (Decimal("2.00"), Decimal("500.00"), Decimal("2.00"))
    assert quote.charged_account_id == general_account.id
