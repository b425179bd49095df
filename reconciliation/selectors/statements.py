"""Read-side queries of statement files."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import QuerySet

from reconciliation.filters import StatementFileFilter
from reconciliation.models import StatementFile


def statement_files() -> QuerySet[StatementFile]:
    """Statement files newest first, with their channel and who uploaded them."""
    return StatementFile.objects.select_related("channel", "uploaded_by").order_by("-received_at", "-id")


def statement_file_list(*, params: Mapping) -> StatementFileFilter:
    return StatementFileFilter(params, queryset=statement_files())
