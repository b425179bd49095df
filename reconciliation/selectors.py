"""Read-side queries: querysets with the joins their screens need (no N+1)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from reconciliation.models import Channel, FeeModel, StatementFile


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


def statement_files(*, filters: dict) -> QuerySet[StatementFile]:
    """Statement files for the list screen, newest first, with who uploaded them."""
    files = StatementFile.objects.select_related("channel", "uploaded_by").order_by("-received_at", "-id")
    if filters.get("channel"):
        files = files.filter(channel=filters["channel"])
    if filters.get("kind"):
        files = files.filter(kind=filters["kind"])
    if filters.get("status"):
        files = files.filter(status=filters["status"])
    if filters.get("date_from"):
        files = files.filter(statement_date__gte=filters["date_from"])
    if filters.get("date_to"):
        files = files.filter(statement_date__lte=filters["date_to"])
    return files
