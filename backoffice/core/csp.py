"""Content-Security-Policy on every answer: the browser runs only the scripts and applies only the styles
served from this site's own static files, so an injected string (a name in a statement file, a memo) can
never run as code. The product's own pages carry no inline script, event-handler attribute or style; the
few third-party pages that do are given a narrower exception, by view name, below (docs/operations.md)."""

from __future__ import annotations

import secrets
from fnmatch import fnmatchcase

from django.conf import settings

HEADER = "Content-Security-Policy"

POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}

# Sources added for pages we do not write ourselves, by view name (fnmatch patterns on
# request.resolver_match.view_name). Inline styles only, which cannot run code; no inline script is allowed
# but the one event handler named by its hash, and the API documentation's initialisation, which carries
# the request's nonce.
RELAXED: tuple[tuple[str, dict[str, tuple[str, ...]]], ...] = (
    # Django's admin and the apps' admin pages: a <style> block on change lists without actions,
    # django-import-export's style attributes.
    ("admin:*", {"style-src": ("'unsafe-inline'",)}),
    # django-import-export's export form: 'unsafe-hashes' lets through this exact event-handler attribute,
    # onchange="onSelectToggleChange(event)" (its "select all" box), and no other.
    ("admin:*_export", {"script-src": ("'unsafe-hashes'", "'sha256-wid4zL8fR53ZYy1ljOepzR77Dn6vWUUxuNnnWWBP3I8='")}),
    # Swagger UI and ReDoc set style attributes in their markup; ReDoc (styled-components) inserts <style>
    # elements and builds its search index in a worker made from a blob: URL. ReDoc's sidebar logo is an
    # image on cdn.redoc.ly: refused on purpose (no third-party requests; ReDoc hides the broken image).
    ("api-docs", {"style-src": ("'unsafe-inline'",)}),
    ("api-redoc", {"style-src": ("'unsafe-inline'",), "worker-src": ("'self'", "blob:")}),
)

# Django's technical error pages (DEBUG only) are made of inline scripts and styles.
DEBUG_ERROR_PAGE = {"script-src": ("'unsafe-inline'",), "style-src": ("'unsafe-inline'",)}


class Nonce:
    """A per-request nonce, made on first use: a page whose template reads ``request.csp_nonce`` gets
    ``'nonce-…'`` added to its script-src; every other page keeps the plain policy."""

    def __init__(self) -> None:
        self.value: str | None = None

    def __str__(self) -> str:
        if self.value is None:
            self.value = secrets.token_urlsafe(18)
        return self.value


def _extend(directives: dict[str, list[str]], extra: dict[str, tuple[str, ...]]) -> None:
    for name, sources in extra.items():
        current = directives.setdefault(name, [])
        current.extend(source for source in sources if source not in current)


def policy_for(request, response) -> str:
    directives = {name: list(sources) for name, sources in POLICY.items()}
    match = getattr(request, "resolver_match", None)
    if match is not None:
        for pattern, extra in RELAXED:
            if fnmatchcase(match.view_name, pattern):
                _extend(directives, extra)
    if settings.DEBUG and response.status_code in (404, 500) and "text/html" in response.get("Content-Type", ""):
        _extend(directives, DEBUG_ERROR_PAGE)
    nonce = getattr(request, "csp_nonce", None)
    if isinstance(nonce, Nonce) and nonce.value is not None:
        directives["script-src"].append(f"'nonce-{nonce.value}'")
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class ContentSecurityPolicyMiddleware:
    """Sets the policy on every answer: pages, API answers, exports and (placed before WhiteNoise) the
    static files. An answer that already has the header keeps it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = Nonce()
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = policy_for(request, response)
        return response
