"""API tokens kept as hashes: issued (the key shown once), checked on every request, revoked.

A key is 40 random URL-safe characters (240 bits), so a plain SHA-256 of it cannot be reversed or
guessed; looking the hash up by index costs one query, like DRF's own token table, without keeping
anything that would let a reader of the database or of the admin call the API.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from backoffice.models import ApiToken

KEY_BYTES = 30  # 40 characters once encoded
PREFIX_LENGTH = 8
# last_used_at is written at most this often per token: an API call is not a database write.
LAST_USED_GRANULARITY = timedelta(minutes=5)
ISSUE_PERMISSION = "backoffice.issue_apitoken"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_issue(*, user, name: str, acting_user, now: datetime, key: str | None = None) -> tuple[ApiToken, str]:
    """Issue a token for ``user``; returns it with its key, which is never available again. ``key``: a
    known key to store (the demo's; migrating old plain tokens), else a new random one."""
    if acting_user is not None and not acting_user.has_perm(ISSUE_PERMISSION):
        raise PermissionDenied(_("You may not issue API tokens."))
    if acting_user is not None and acting_user.pk == user.pk:
        raise PermissionDenied(_("Nobody issues an API token for their own account."))
    key = key or secrets.token_urlsafe(KEY_BYTES)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[:PREFIX_LENGTH], key_hash=key_hash(key), created_at=now, created_by=acting_user
    )
    return token, key


def api_token_revoke(*, token: ApiToken, acting_user, now: datetime) -> ApiToken:
    if acting_user is not None and not acting_user.has_perm(ISSUE_PERMISSION):
        raise PermissionDenied(_("You may not revoke API tokens."))
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now, revoked_by=acting_user)
    token.refresh_from_db()
    return token


class HashedTokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>``, as before, checked against the hashes of active tokens."""

    def authenticate_credentials(self, key: str):
        token = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=key_hash(key), revoked_at__isnull=True)
            .only("pk", "last_used_at", "user")
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("The token's user is inactive."))
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_GRANULARITY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token
