"""Helpers for requests, shared by the screens and the API."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.utils.cache import add_never_cache_headers


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(proxy, strict=False) for proxy in settings.TRUSTED_PROXIES)


def client_address(request) -> str:
    """Where a request came from, for the audit trail. Behind trusted proxies (TRUSTED_PROXIES), the
    nearest address in X-Forwarded-For that is not one of them; the header of anyone else is ignored."""
    remote = request.META.get("REMOTE_ADDR", "")
    if not settings.TRUSTED_PROXIES or not _trusted(remote):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):  # appended by each proxy in turn: the client is left of the last trusted one
        if not _trusted(hop):
            return hop
    return hops[0] if hops else remote


class NoStoreMiddleware:
    """Every answer but the static files is marked Cache-Control: no-store (never kept by a browser's
    back button cache or a proxy)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
            add_never_cache_headers(response)
        return response
