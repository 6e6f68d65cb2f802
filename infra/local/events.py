"""Lambda events shaped as API Gateway delivers them: WebSocket (CONNECT / MESSAGE / DISCONNECT) and HTTP API v2."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any


def new_connection_id() -> str:
    """An id shaped like API Gateway's connection and request ids: 16 base64 characters, e.g. ``L0SM9cOFvHcCIhw=``."""
    return base64.b64encode(secrets.token_bytes(11)).decode()


def _request_time(epoch_ms: int) -> str:
    # API Gateway's format: 21/Nov/2026:10:00:00 +0000
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class ConnectionFacts:
    """What API Gateway remembers of a connection and repeats in each of its events."""

    connection_id: str
    source_ip: str
    user_agent: str
    domain_name: str
    api_id: str
    stage: str
    connected_at_ms: int = field(default_factory=_now_ms)

    def request_context(self, event_type: str, route_key: str, **extra: Any) -> dict[str, Any]:
        now = _now_ms()
        request_id = new_connection_id()
        context = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": _request_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": self.connected_at_ms,
            "requestTimeEpoch": now,
            "identity": {"userAgent": self.user_agent, "sourceIp": self.source_ip},
            "requestId": request_id,
            "domainName": self.domain_name,
            "connectionId": self.connection_id,
            "apiId": self.api_id,
        }
        context.update(extra)
        return context


def _multi_value(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
        single[name] = value  # API Gateway's single-value maps keep the last value
    return single, multi


def connect_event(
    facts: ConnectionFacts, headers: Iterable[tuple[str, str]], query: Iterable[tuple[str, str]], scheme: str
) -> dict[str, Any]:
    """``$connect``: the client's handshake headers and query string, plus the headers API Gateway adds."""
    added = [("X-Forwarded-For", facts.source_ip), ("X-Forwarded-Proto", scheme)]
    header_pairs = [(name, value) for name, value in headers if name.lower() not in {"x-forwarded-for"}] + added
    single_headers, multi_headers = _multi_value(header_pairs)
    event: dict[str, Any] = {
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "requestContext": facts.request_context("CONNECT", "$connect"),
        "isBase64Encoded": False,
    }
    query_pairs = list(query)
    if query_pairs:
        event["queryStringParameters"], event["multiValueQueryStringParameters"] = _multi_value(query_pairs)
    return event


def message_event(facts: ConnectionFacts, route_key: str, data: str | bytes) -> dict[str, Any]:
    """A MESSAGE on ``route_key``: text as it came, binary frames base64-encoded."""
    is_binary = isinstance(data, bytes)
    return {
        "requestContext": facts.request_context("MESSAGE", route_key, messageId=new_connection_id()),
        "body": base64.b64encode(data).decode() if is_binary else data,
        "isBase64Encoded": is_binary,
    }


def disconnect_event(facts: ConnectionFacts, status_code: int, reason: str) -> dict[str, Any]:
    headers = {"Host": facts.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": facts.request_context(
            "DISCONNECT", "$disconnect", disconnectStatusCode=status_code, disconnectReason=reason
        ),
        "isBase64Encoded": False,
    }


def select_route(data: str | bytes, path: tuple[str, ...], routes: frozenset[str]) -> str:
    """The route key of a message: the value at ``path`` in its JSON body when a route has that key, else $default.

    As API Gateway does: a binary frame, a body that is not JSON (nested too deep to parse included), a missing key
    or a key no route has all go to ``$default``.
    """
    if isinstance(data, bytes) or not routes:
        return "$default"
    try:
        value: Any = json.loads(data)
    except (ValueError, RecursionError):
        return "$default"
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return "$default"
        value = value[key]
    return value if isinstance(value, str) and value in routes else "$default"


def http_api_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    domain_name: str,
    scheme: str,
    port: int,
) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) request, as the ``$default`` route of the ``$default`` stage delivers it."""
    joined: dict[str, list[str]] = {}
    cookies: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined.setdefault(lowered, []).append(value)
    joined_headers = {name: ",".join(values) for name, values in joined.items()}
    joined_headers.update({"x-forwarded-for": source_ip, "x-forwarded-proto": scheme, "x-forwarded-port": str(port)})
    now = _now_ms()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": joined_headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local-http",
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined_headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": formatdate(now / 1000, usegmt=True),
            "timeEpoch": now,
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if body:
        try:
            event["body"] = body.decode()
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


@dataclass(frozen=True)
class HttpReply:
    """A Lambda HTTP result, read back into status, header pairs and body bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def read_http_result(result: Mapping[str, Any]) -> HttpReply:
    """Payload 2.0 (and 1.0) results: ``cookies`` and ``multiValueHeaders`` become repeated headers."""
    headers: list[tuple[str, str]] = []
    multi = result.get("multiValueHeaders") or {}
    for name, value in (result.get("headers") or {}).items():
        if name not in multi:
            headers.append((name, str(value)))
    for name, values in multi.items():
        headers.extend((name, str(value)) for value in values)
    headers.extend(("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or ())
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return HttpReply(int(result.get("statusCode", 200)), headers, raw)
