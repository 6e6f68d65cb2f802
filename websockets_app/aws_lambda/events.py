"""API Gateway WebSocket events (CONNECT, MESSAGE, DISCONNECT), built with the shape API Gateway sends them in.

For tests, local servers and sample files: every value not given is a fixed sample value, so the same call always
builds the same event; a server that stands in for API Gateway passes fresh request ids and times.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SAMPLE_API_ID = "a1b2c3d4e5"
SAMPLE_STAGE = "production"
SAMPLE_REGION = "eu-west-1"
SAMPLE_DOMAIN = f"{SAMPLE_API_ID}.execute-api.{SAMPLE_REGION}.amazonaws.com"
SAMPLE_CONNECTION_ID = "L0SM9cOFvHcCIhw="
SAMPLE_SOURCE_IP = "203.0.113.7"
SAMPLE_USER_AGENT = "Mozilla/5.0"
SAMPLE_CONNECTED_AT_MS = 1_795_000_000_000
SAMPLE_REQUEST_ID = "L0SM9FOVHcCF5vA="
SAMPLE_REQUEST_TIME_MS = 1_795_000_000_123
SAMPLE_MESSAGE_ID = "Ltl9ZdPmCF8Aaxg="

# What a $disconnect carries for headers: API Gateway's own, empty but for the host.
_DISCONNECT_HEADER_NAMES = ("x-api-key", "X-Forwarded-For", "x-restapi")

Headers = Iterable[tuple[str, str]] | Mapping[str, str]


@dataclass(frozen=True)
class Connection:
    """What API Gateway remembers of a connection and repeats in each of its events."""

    connection_id: str = SAMPLE_CONNECTION_ID
    source_ip: str = SAMPLE_SOURCE_IP
    user_agent: str = SAMPLE_USER_AGENT
    domain_name: str = SAMPLE_DOMAIN
    api_id: str = SAMPLE_API_ID
    stage: str = SAMPLE_STAGE
    connected_at_ms: int = SAMPLE_CONNECTED_AT_MS


SAMPLE_CONNECTION = Connection()


def request_time(epoch_ms: int) -> str:
    """API Gateway's ``requestTime`` text for an epoch in milliseconds: ``21/Nov/2026:10:00:00 +0000``."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


def request_context(
    connection: Connection,
    event_type: str,
    route_key: str,
    *,
    request_id: str = SAMPLE_REQUEST_ID,
    time_ms: int = SAMPLE_REQUEST_TIME_MS,
    **extra: Any,
) -> dict[str, Any]:
    """The ``requestContext`` of an event; ``extra`` adds the fields of one event type (messageId...)."""
    context = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(time_ms),
        "messageDirection": "IN",
        "stage": connection.stage,
        "connectedAt": connection.connected_at_ms,
        "requestTimeEpoch": time_ms,
        "identity": {"userAgent": connection.user_agent, "sourceIp": connection.source_ip},
        "requestId": request_id,
        "domainName": connection.domain_name,
        "connectionId": connection.connection_id,
        "apiId": connection.api_id,
    }
    context.update(extra)
    return context


def connect_event(
    headers: Headers,
    query: Headers = (),
    *,
    connection: Connection = SAMPLE_CONNECTION,
    scheme: str = "https",
    port: int | None = 443,
    request_id: str = SAMPLE_REQUEST_ID,
    time_ms: int = SAMPLE_REQUEST_TIME_MS,
) -> dict[str, Any]:
    """``$connect``: the client's handshake ``headers`` and ``query`` string (name, value pairs, names repeatable),
    plus the headers API Gateway adds: X-Forwarded-For (the address it saw, replacing a client's own),
    X-Forwarded-Port (unless ``port`` is None) and X-Forwarded-Proto."""
    added = [("X-Forwarded-For", connection.source_ip)]
    if port is not None:
        added.append(("X-Forwarded-Port", str(port)))
    added.append(("X-Forwarded-Proto", scheme))
    added_names = {name.lower() for name, _ in added}
    client = [(name, value) for name, value in _pairs(headers) if name.lower() not in added_names]
    single_headers, multi_headers = _single_and_multi(client + added)
    event: dict[str, Any] = {
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "requestContext": request_context(connection, "CONNECT", "$connect", request_id=request_id, time_ms=time_ms),
        "isBase64Encoded": False,
    }
    query_pairs = list(_pairs(query))
    if query_pairs:
        event["queryStringParameters"], event["multiValueQueryStringParameters"] = _single_and_multi(query_pairs)
    return event


def message_event(
    data: str | bytes,
    route_key: str = "$default",
    *,
    connection: Connection = SAMPLE_CONNECTION,
    request_id: str = SAMPLE_REQUEST_ID,
    message_id: str = SAMPLE_MESSAGE_ID,
    time_ms: int = SAMPLE_REQUEST_TIME_MS,
) -> dict[str, Any]:
    """A MESSAGE selected for ``route_key``: a text frame as it came, a binary frame base64-encoded."""
    is_binary = isinstance(data, bytes)
    context = request_context(
        connection, "MESSAGE", route_key, request_id=request_id, time_ms=time_ms, messageId=message_id
    )
    return {
        "requestContext": context,
        "body": base64.b64encode(data).decode() if isinstance(data, bytes) else data,
        "isBase64Encoded": is_binary,
    }


def disconnect_event(
    status_code: int = 1001,
    reason: str = "Going away",
    *,
    connection: Connection = SAMPLE_CONNECTION,
    request_id: str = SAMPLE_REQUEST_ID,
    time_ms: int = SAMPLE_REQUEST_TIME_MS,
) -> dict[str, Any]:
    """``$disconnect`` with the close code and reason (API Gateway's own when it closed the connection)."""
    headers = {"Host": connection.domain_name, **dict.fromkeys(_DISCONNECT_HEADER_NAMES, "")}
    context = request_context(
        connection,
        "DISCONNECT",
        "$disconnect",
        request_id=request_id,
        time_ms=time_ms,
        disconnectStatusCode=status_code,
        disconnectReason=reason,
    )
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def _pairs(items: Headers) -> Iterable[tuple[str, str]]:
    return items.items() if isinstance(items, Mapping) else items


def _single_and_multi(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
        single[name] = value  # API Gateway's single-value maps keep the last value
    return single, multi
