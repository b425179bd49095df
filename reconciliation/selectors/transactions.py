"""Read-side queries of our transaction records."""

from __future__ import annotations

from django.db.models import QuerySet

from reconciliation.models import PlatformTransaction


def transactions() -> QuerySet[PlatformTransaction]:
    """Our transactions in the order they were received, with their channel, merchant, account and original."""
    return PlatformTransaction.objects.select_related("channel", "merchant", "account", "original").order_by("id")
