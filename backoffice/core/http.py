"""Helpers for requests, shared by the screens and the API."""

from __future__ import annotations

from django.conf import settings


def client_address(request) -> str:
    """Where a request came from, for the audit trail (the proxy's forwarded address when behind one)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return forwarded.split(",")[0].strip() if forwarded and settings.USE_X_FORWARDED_FOR else request.META.get("REMOTE_ADDR", "")
