"""The package's public functions: sending to connections, closing them and asking about them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection as db_connection
from django.db.models import QuerySet

from websockets_app.conf import ws_settings
from websockets_app.messaging import replay as channel_history
from websockets_app.messaging import transports
from websockets_app.messaging.deadlines import send_deadline
from websockets_app.messaging.endpoints import endpoint_of, resolve
from websockets_app.messaging.payloads import encode_payload
from websockets_app.messaging.results import (
    CloseResult,
    Failure,
    ManagementApiError,
    MessagingError,
    SendResult,
    Target,
)
from websockets_app.messaging.retry import Outcome
from websockets_app.models import ApiGateway, WebSocketSession, WebSocketSessionQuerySet

logger = logging.getLogger(__name__)

# Most closes in flight at once in close_connections_of (threads, each with a pooled boto3 connection).
CLOSE_CONCURRENCY = 32


# --- Sending ------------------------------------------------------------------------------------------------


def send_to_sessions(sessions: Iterable[WebSocketSession], data: Any) -> SendResult:
    """Send to these session objects as they are (used by ``WebSocketSession.send_message``).

    The sessions' in-memory ``connected`` flag is updated for those found gone.
    """
    started = time.perf_counter()
    body = encode_payload(data)
    sessions = list(sessions)
    gateways = {gateway.pk: gateway for gateway in (session.api_gateway for session in sessions) if gateway}
    result = _send(((s.connection_id, s.api_gateway_id) for s in sessions), gateways, body, started)
    if result.gone:
        gone = set(result.gone)
        for session in sessions:
            if session.connection_id in gone:
                session.connected = False
    return result


def send_to_queryset(queryset: WebSocketSessionQuerySet, data: Any) -> SendResult:
    """Send to the connected sessions of a queryset, each through its own gateway's endpoint.

    Two queries fetch the connection ids and their gateways, whatever the number of rows.
    """

    started = time.perf_counter()
    body = encode_payload(data)
    if queryset.query.is_sliced:  # a sliced queryset cannot be filtered any further
        rows = [
            (cid, gid) for cid, gid, on in queryset.values_list("connection_id", "api_gateway_id", "connected") if on
        ]
    else:
        rows = list(queryset.filter(connected=True).values_list("connection_id", "api_gateway_id"))
    gateway_ids = {gateway_id for _, gateway_id in rows if gateway_id is not None}
    gateways = ApiGateway.objects.in_bulk(gateway_ids) if gateway_ids else {}
    return _send(rows, gateways, body, started)


def send_to_channel(channel_name: str, data: Any, replay: bool = False) -> SendResult:
    """Send to every connected session in a channel.

    ``replay=True``: the message is numbered and kept for clients that reconnect (``websockets_app.replay``), and
    each connection receives ``{"seq": n, "id": ..., "channel": ..., "data": data}``; ``SendResult.seq`` is n.
    """

    if replay:  # one more query per send, never one per recipient
        stamped = channel_history.record(channel_name, data)
        result = send_to_queryset(WebSocketSession.objects.in_channel(channel_name), stamped.envelope)
        result.seq = stamped.seq
        return result
    return send_to_queryset(WebSocketSession.objects.in_channel(channel_name), data)


def send_to_user(user: Any, data: Any) -> SendResult:
    """Send to every connected session of a user (a user object or its primary key)."""

    return send_to_queryset(WebSocketSession.objects.filter(user=user), data)


def broadcast(data: Any) -> SendResult:
    """Send to every connected session."""

    return send_to_queryset(WebSocketSession.objects.all(), data)


def mark_gone(connection_ids: Sequence[str]) -> int:
    """Mark these connections disconnected; one UPDATE (split only past the database's parameter limit)."""

    if not connection_ids:
        return 0
    # Three parameters besides the ids: connected=True in the WHERE, connected and updated_on in the SET.
    chunk = (db_connection.features.max_query_params or len(connection_ids) + 3) - 3
    return sum(
        WebSocketSession.objects.filter(connection_id__in=connection_ids[start : start + chunk]).mark_disconnected()
        for start in range(0, len(connection_ids), chunk)
    )


def _send(
    rows: Iterable[tuple[str, int | None]], gateways: dict[int, ApiGateway], body: bytes, started: float
) -> SendResult:
    targets, result = resolve(rows, gateways)
    queue_url = ws_settings.FANOUT_QUEUE_URL
    if queue_url and len(targets) > ws_settings.FANOUT_THRESHOLD:
        from websockets_app.messaging.fanout import batches

        result.batches, not_queued = batches.enqueue(queue_url, targets, body)
        result.queued = len(targets) - len(not_queued)
        result.failed.extend(not_queued)
    else:
        result.extend(transports.deliver(targets, body))
        mark_gone(result.gone)
    result.duration = time.perf_counter() - started
    log_result(result)
    return result


def log_result(result: SendResult) -> None:
    if result.failed or result.unknown:
        codes = sorted({failure.code for failure in (*result.failed, *result.unknown)})
        logger.warning("Send finished with failures: %s (codes: %s).", result, ", ".join(codes))
    else:
        logger.debug("Send finished: %s.", result)


# --- One connection: close and info ---------------------------------------------------------------------------


def close(connection: WebSocketSession | str) -> bool:
    """Close a connection (``delete_connection``) and mark its session disconnected.

    Returns False when API Gateway says it was already gone. Raises ``ManagementApiError`` when AWS refuses.
    """
    session = _session_for(connection)
    closed = transports.delete_connection(_target_for(session))
    mark_gone([session.connection_id])
    session.connected = False
    return closed


def info(connection: WebSocketSession | str) -> dict[str, Any] | None:
    """API Gateway's facts about a connection (``get_connection``): connectedAt, identity, lastActiveAt.

    None when the connection is gone (its session is then marked disconnected).
    """
    session = _session_for(connection)
    facts = transports.get_connection(_target_for(session))
    if facts is None:
        mark_gone([session.connection_id])
        session.connected = False
    return facts


def close_connections_of(user: Any) -> CloseResult:
    """Close every open connection of a user (an object or a primary key) or of a queryset of users.

    One query finds the open sessions with their gateways; the closes (``delete_connection``) run concurrently;
    one UPDATE marks every session found as disconnected, those AWS failed to close included, so that the
    message path refuses them from then on. AWS's refusals are logged and returned, never raised.
    """
    started = time.perf_counter()
    if isinstance(user, QuerySet):
        sessions = WebSocketSession.objects.filter(user__in=user.values("pk"))
    else:
        sessions = WebSocketSession.objects.filter(user=user)
    found = list(sessions.filter(connected=True).select_related("api_gateway"))
    gateways = {gateway.pk: gateway for gateway in (session.api_gateway for session in found) if gateway}
    targets, unreachable = resolve(((s.connection_id, s.api_gateway_id) for s in found), gateways)
    closes = _close_each(targets)
    result = CloseResult(closed=closes.sent, gone=closes.gone, failed=[*unreachable.failed, *closes.failed])
    mark_gone([session.connection_id for session in found])
    duration_ms = (time.perf_counter() - started) * 1000
    if result.failed:
        codes = sorted({failure.code for failure in result.failed})
        logger.warning("Closing connections finished with failures: %s (codes: %s).", result, ", ".join(codes))
    elif found:
        logger.info("Closed connections: %s in %.0f ms.", result, duration_ms)
    return result


def _close_each(targets: Sequence[Target]) -> SendResult:
    """``delete_connection`` for every target, at most CLOSE_CONCURRENCY at a time. No database access."""
    from concurrent.futures import ThreadPoolExecutor

    # One deadline for them all, taken here, where the Lambda context is known: a worker thread does not see it,
    # and a deadline per close would start again with every wave of CLOSE_CONCURRENCY closes.
    deadline = send_deadline(ws_settings.SEND_TIMEOUT_SECONDS)

    def close_one(target: Target) -> tuple[str, Outcome, Failure | None]:
        try:
            closed = transports.delete_connection(target, deadline)
        except ManagementApiError as exc:
            return target.connection_id, "failed", exc.failure
        return target.connection_id, "sent" if closed else "gone", None

    closes = SendResult()
    if len(targets) <= 1:
        outcomes = [close_one(target) for target in targets]
    else:
        # boto3 clients are thread-safe; the cached client's pool holds SEND_CONCURRENCY connections.
        workers = min(len(targets), CLOSE_CONCURRENCY, ws_settings.SEND_CONCURRENCY)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="websockets-close") as pool:
            outcomes = list(pool.map(close_one, targets))
    for connection_id, outcome, failure in outcomes:
        closes.record(connection_id, outcome, failure)
    return closes


def _session_for(connection: WebSocketSession | str) -> WebSocketSession:
    if isinstance(connection, WebSocketSession):
        return connection
    try:
        session: WebSocketSession = WebSocketSession.objects.select_related("api_gateway").get(connection_id=connection)
        return session
    except WebSocketSession.DoesNotExist:
        raise MessagingError(f"There is no session with connection id {connection!r}.") from None


def _target_for(session: WebSocketSession) -> Target:
    gateway = session.api_gateway
    if gateway is None:
        raise MessagingError(f"Session {session.connection_id!r} has no API Gateway, so it cannot be reached.")
    try:
        return Target(session.connection_id, *endpoint_of(gateway))
    except ValueError as exc:
        raise MessagingError(str(exc)) from exc
