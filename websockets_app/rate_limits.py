"""Connection rate limits: attempts per client IP and per user within a sliding window.

Attempts are counted, refused ones included, so a client that keeps failing (bad origin, bad token, over the limit)
stays limited. They are stored as counters: one ``ConnectionRateLimit`` row per client address, user and time
bucket, upserted on every attempt (``INSERT ... ON CONFLICT DO UPDATE``), so a flood from one client grows one row
per bucket, not one per request.

Buckets are a tenth of the window (``bucket_seconds``): fine enough that a limited client waits at most a tenth
longer than the window, coarse enough that a window's count sums at most a dozen rows per client. A bucket counts
in full while its last attempt is within the window: every attempt counts for at least the window (never fewer
attempts than the limit in any window), at most one bucket longer, and a client that stops trying is clear again
one window after its last attempt (the ``Retry-After``).

Admission is decided under a lock on the address and the user (``websockets_app.locks``): sum the window's
attempts, then count this one, in one transaction. A burst of concurrent connects therefore admits exactly the
limit, never more.

The per-IP limit counts an IPv6 client by its network (``CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH``, a /64 by
default): one client usually holds a whole /64 and could otherwise take a fresh address for every attempt.
An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) counts as its IPv4 address.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from django.db import connection, transaction
from django.db.models import F, Field, Q, Sum
from django.utils import timezone

from websockets_app.conf import ws_settings
from websockets_app.locks import lock_keys
from websockets_app.models import ConnectionRateLimit

BUCKETS_PER_WINDOW = 10


class RateLimited(Exception):
    """Too many attempts (connections, messages, token requests) in the window; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int, what: Literal["connection", "message", "resume"] = "connection") -> None:
        super().__init__(f"{what} rate limit reached")
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


@dataclass
class ConnectionAttempt:
    """One counted attempt: the bucket row it was counted in, and whether it was admitted."""

    bucket_id: int
    successful: bool


def bucket_seconds(window_seconds: int) -> int:
    """The length of a bucket for a window: a tenth of it, whole seconds, at least one."""
    return max(1, window_seconds // BUCKETS_PER_WINDOW)


def rate_limited_address(ip_address: str) -> str:
    """The address the per-IP limit counts: IPv4 as it is, IPv4-mapped IPv6 as IPv4, IPv6 as its network's first
    address (scope ids dropped)."""
    address = ipaddress.ip_address(ip_address)
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    host_bits = 128 - ws_settings.CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH
    return str(ipaddress.IPv6Address(int(address) >> host_bits << host_bits))


def record_refused_connection(ip_address: str, user: Any = None) -> None:
    """Count an attempt that was refused before the limits were consulted (bad origin, channel or token)."""
    window = ws_settings.CONNECT_RATE_LIMIT_WINDOW_SECONDS
    _count_attempt(rate_limited_address(ip_address), _user_or_none(user), bucket_seconds(window), admitted=False)


def admit_connection(ip_address: str, user: Any = None, limits: ConnectionLimits | None = None) -> ConnectionAttempt:
    """Count this attempt and admit it if both the IP and the user are under their limits.

    Raises ``RateLimited`` (the refused attempt is counted all the same). On admission the returned attempt has
    ``successful=True``; call ``mark_refused`` if the connection is refused later on.
    """
    limits = limits or ConnectionLimits.from_settings()
    user = _user_or_none(user)
    address = rate_limited_address(ip_address)
    lock_names = [f"connect:ip:{address}"] + ([f"connect:user:{user.pk}"] if user is not None else [])
    with transaction.atomic():
        lock_keys(*lock_names)
        admitted = _under_limits(address, user, limits)
        bucket_id = _count_attempt(address, user, bucket_seconds(limits.window_seconds), admitted=admitted)
    if not admitted:
        raise RateLimited(limits.window_seconds)
    return ConnectionAttempt(bucket_id=bucket_id, successful=True)


def mark_refused(attempt: ConnectionAttempt) -> None:
    """An admitted attempt that ended in a refusal (permissions, the view's own checks): moved from the bucket's
    successful count to its refused count, once."""
    if not attempt.successful:
        return
    ConnectionRateLimit.objects.filter(pk=attempt.bucket_id).update(
        successful=F("successful") - 1, refused=F("refused") + 1
    )
    attempt.successful = False


def _count_attempt(address: str, user: Any, bucket_length: int, *, admitted: bool) -> int:
    """Add one attempt to its bucket row, creating the row if needed, in one statement; return the row's id.

    Concurrent writers of the same row wait for each other on the row (ON CONFLICT), so no attempt is lost.
    """
    now = timezone.now()
    epoch = int(now.timestamp())
    values = {
        "ip_address": address,
        "user": user.pk if user is not None else None,
        "bucket_start": datetime.fromtimestamp(epoch - epoch % bucket_length, tz=UTC),
        "last_attempt": now,
        "successful": int(admitted),
        "refused": int(not admitted),
    }
    fields = _fields()
    params = [None if v is None else fields[name].get_db_prep_value(v, connection) for name, v in values.items()]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_statement(connection.vendor), params)
        (bucket_id,) = cursor.fetchone()  # RETURNING always gives the row
    return int(bucket_id)


@functools.cache
def _fields() -> dict[str, Field[Any, Any]]:
    """ConnectionRateLimit's columns by field name."""
    return {field.name: field for field in ConnectionRateLimit._meta.concrete_fields}


@functools.cache
def _upsert_statement(vendor: str) -> str:
    """INSERT ... ON CONFLICT DO UPDATE for PostgreSQL and SQLite (3.35+), parameters in ``_count_attempt``'s order.

    The conflict target is the unique index wsapp_attempt_bucket_uniq, expression for expression.
    """
    meta = ConnectionRateLimit._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    fields = _fields()
    ip, user, start, last, successful, refused = (
        quote(fields[name].column)
        for name in ("ip_address", "user", "bucket_start", "last_attempt", "successful", "refused")
    )
    # Only quoted names from the model's metadata are interpolated; every value is a query parameter.
    return (
        f"INSERT INTO {table} ({ip}, {user}, {start}, {last}, {successful}, {refused}) "  # noqa: S608
        "VALUES (%s, %s, %s, %s, %s, %s) "
        f"ON CONFLICT ({ip}, {start}, (COALESCE({user}, 0))) DO UPDATE SET "
        f"{successful} = {table}.{successful} + EXCLUDED.{successful}, "
        f"{refused} = {table}.{refused} + EXCLUDED.{refused}, {last} = EXCLUDED.{last} "
        f"RETURNING {quote(meta.pk.column)}"
    )


def _under_limits(address: str, user: Any, limits: ConnectionLimits) -> bool:
    """One query sums the window's attempts by this address and by this user."""
    caps: dict[str, tuple[Q, int]] = {}
    if limits.ip_attempts is not None:
        caps["ip"] = (Q(ip_address=address), limits.ip_attempts)
    if limits.user_attempts is not None and user is not None:
        caps["user"] = (Q(user=user), limits.user_attempts)
    if not caps:
        return True
    either = Q()
    for condition, _ in caps.values():
        either |= condition
    since = timezone.now() - timedelta(seconds=limits.window_seconds)
    # bucket_start bounds the index range; a bucket counts while its last attempt is in the window. Going back a
    # whole window more also catches the longer buckets of a window setting that was just shortened.
    counts = ConnectionRateLimit.objects.filter(
        either,
        bucket_start__gt=since - timedelta(seconds=limits.window_seconds),
        last_attempt__gte=since,
    ).aggregate(
        **{name: Sum(F("successful") + F("refused"), filter=condition) for name, (condition, _) in caps.items()}
    )
    return all((counts[name] or 0) < cap for name, (_, cap) in caps.items())


def _user_or_none(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None
