"""Read-side queries: querysets with the joins their screens need (no N+1)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from reconciliation.models import Channel, FeeModel


def channels_with_current_fees(*, at: datetime) -> QuerySet[Channel]:
    """Active channels with the fee models valid at ``at`` prefetched as ``current_fee_models``."""
    current = (
        FeeModel.objects.filter(valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .select_related("charged_account__bank")
        .prefetch_related("tiers")
        .order_by("business_type", "id")
    )
    return (
        Channel.objects.filter(is_active=True)
        .select_related("bank", "settlement_account__bank")
        .prefetch_related(Prefetch("fee_models", queryset=current, to_attr="current_fee_models"))
        .order_by("code", "id")
    )
