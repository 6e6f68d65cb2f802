"""Connection rate limits: attempts per client IP and per user within a sliding window.

Every attempt is a ``ConnectionRateLimit`` row, refused ones included, so a client that keeps failing (bad origin,
bad token, over the limit) stays limited. Admission is decided under a lock on the IP and the user
(``websockets_app.locks``): count the attempts in the window, then record this one, in one transaction. A burst of
concurrent connects therefore admits exactly the limit, never more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from websockets_app.conf import ws_settings
from websockets_app.locks import lock_keys
from websockets_app.models import ConnectionRateLimit


class RateLimited(Exception):
    """Too many attempts (connections, token requests) in the window; ``retry_after`` is the window in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limit reached")
        self.retry_after = retry_after


@dataclass(frozen=True)
class ConnectionLimits:
    ip_attempts: int | None
    user_attempts: int | None
    window_seconds: int

    @classmethod
    def from_settings(cls) -> ConnectionLimits:
        return cls(
            ip_attempts=ws_settings.CONNECT_RATE_LIMIT_IP_ATTEMPTS,
            user_attempts=ws_settings.CONNECT_RATE_LIMIT_USER_ATTEMPTS,
            window_seconds=ws_settings.CONNECT_RATE_LIMIT_WINDOW_SECONDS,
        )


def record_refused_connection(ip_address: str, user: Any = None) -> None:
    """Count an attempt that was refused before the limits were consulted (bad origin, channel or token)."""
    ConnectionRateLimit.objects.create(ip_address=ip_address, user=_user_or_none(user), successful=False)


def admit_connection(ip_address: str, user: Any = None, limits: ConnectionLimits | None = None) -> ConnectionRateLimit:
    """Record this attempt and admit it if both the IP and the user are under their limits.

    Raises ``RateLimited`` (the refused attempt is recorded all the same). On admission the returned row has
    ``successful=True``; call ``mark_refused`` if the connection is refused later on.
    """
    limits = limits or ConnectionLimits.from_settings()
    user = _user_or_none(user)
    lock_names = [f"connect:ip:{ip_address}"] + ([f"connect:user:{user.pk}"] if user is not None else [])
    with transaction.atomic():
        lock_keys(*lock_names)
        admitted = _under_limits(ip_address, user, limits)
        attempt = ConnectionRateLimit.objects.create(ip_address=ip_address, user=user, successful=admitted)
    if not admitted:
        raise RateLimited(limits.window_seconds)
    return attempt


def mark_refused(attempt: ConnectionRateLimit) -> None:
    """An admitted attempt that ended in a refusal (permissions, the view's own checks)."""
    ConnectionRateLimit.objects.filter(pk=attempt.pk).update(successful=False)
    attempt.successful = False


def _under_limits(ip_address: str, user: Any, limits: ConnectionLimits) -> bool:
    """One query counts the window's attempts by this IP and by this user."""
    caps: dict[str, tuple[Q, int]] = {}
    if limits.ip_attempts is not None:
        caps["ip"] = (Q(ip_address=ip_address), limits.ip_attempts)
    if limits.user_attempts is not None and user is not None:
        caps["user"] = (Q(user=user), limits.user_attempts)
    if not caps:
        return True
    either = Q()
    for condition, _ in caps.values():
        either |= condition
    since = timezone.now() - timedelta(seconds=limits.window_seconds)
    counts = ConnectionRateLimit.objects.filter(either, attempt_time__gte=since).aggregate(
        **{name: Count("pk", filter=condition) for name, (condition, _) in caps.items()}
    )
    return all(counts[name] < cap for name, (_, cap) in caps.items())


def _user_or_none(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None
