"""Read-side queries of statement files."""

from __future__ import annotations

from django.db.models import QuerySet

from reconciliation.models import StatementFile


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
