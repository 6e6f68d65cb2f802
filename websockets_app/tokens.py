"""WebSocket tokens: single-use, short-lived tickets that let a browser open an authenticated connection.

The browser asks ``WebSocketTokenView`` for a token (a logged-in, CSRF-checked POST), then connects with
``?ws_token=<token>``. Tokens are 256 random bits; only their SHA-256 is stored, so the table is useless to anyone
who reads it. A token is spent by one conditional UPDATE, so two connects racing with the same token cannot both
succeed, on any database.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from websockets_app.conf import ws_settings
from websockets_app.locks import lock_keys
from websockets_app.models import WebSocketToken
from websockets_app.rate_limits import RateLimited

TOKEN_BYTES = 32  # 256 bits
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet, no padding.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}\Z")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


def issue_token(user: Any, session_key: str | None) -> IssuedToken:
    """Create a token for ``user`` (bound to ``session_key``); ``RateLimited`` over the per-user token limit."""
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    attempts = ws_settings.TOKEN_RATE_LIMIT_ATTEMPTS
    window = ws_settings.TOKEN_RATE_LIMIT_WINDOW_SECONDS
    with transaction.atomic():
        if attempts is not None:
            # Count and create under one lock, so a burst of requests cannot all slip under the limit.
            lock_keys(f"token:user:{user.pk}")
            recent = WebSocketToken.objects.filter(
                user=user, created_at__gte=timezone.now() - timedelta(seconds=window)
            )
            if recent.count() >= attempts:
                raise RateLimited(window)
        WebSocketToken.objects.create(
            token_hash=WebSocketToken.hash_token(raw), user=user, session_key=session_key or ""
        )
    return IssuedToken(token=raw, expires_in=ws_settings.TOKEN_EXPIRY_SECONDS)


def consume_token(raw: object) -> WebSocketToken | None:
    """Spend a token: the unused, unexpired row it names, with its user loaded; None for anything else.

    One UPDATE marks it used only if it is still unused and within ``TOKEN_EXPIRY_SECONDS``; whoever's UPDATE
    changes the row owns the token, and every other attempt (a reuse, a race, an expired or unknown token) gets None.
    """
    if not isinstance(raw, str) or not TOKEN_PATTERN.match(raw):
        return None
    token_hash = WebSocketToken.hash_token(raw)
    oldest = timezone.now() - timedelta(seconds=ws_settings.TOKEN_EXPIRY_SECONDS)
    spent = WebSocketToken.objects.filter(token_hash=token_hash, used=False, created_at__gte=oldest).update(used=True)
    if not spent:
        return None
    return WebSocketToken.objects.select_related("user").filter(token_hash=token_hash).first()
