"""Lambda events shaped as API Gateway delivers them: WebSocket (CONNECT / MESSAGE / DISCONNECT, built by the app's
``websockets_app.aws_lambda.events`` with fresh ids and times) and HTTP API v2."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from websockets_app.aws_lambda import events as websocket_events
from websockets_app.aws_lambda.events import Connection as ConnectionFacts


def new_connection_id() -> str:
    """An id shaped like API Gateway's connection and request ids: 16 base64 characters, e.g. ``L0SM9cOFvHcCIhw=``."""
    return base64.b64encode(secrets.token_bytes(11)).decode()


def _now_ms() -> int:
    return int(time.time() * 1000)


def connection_facts(
    connection_id: str, source_ip: str, user_agent: str, domain_name: str, api_id: str, stage: str
) -> ConnectionFacts:
    """A connection opened now."""
    return ConnectionFacts(connection_id, source_ip, user_agent, domain_name, api_id, stage, _now_ms())


def _fresh_request() -> dict[str, Any]:
    """The ids and time of a new event, as API Gateway gives each one."""
    return {"request_id": new_connection_id(), "time_ms": _now_ms()}


def connect_event(
    facts: ConnectionFacts, headers: Iterable[tuple[str, str]], query: Iterable[tuple[str, str]], scheme: str
) -> dict[str, Any]:
    """``$connect``: the client's handshake headers and query string, plus the headers API Gateway adds (the
    port is the local server's own concern: no X-Forwarded-Port)."""
    return websocket_events.connect_event(
        headers, query, connection=facts, scheme=scheme, port=None, **_fresh_request()
    )


def message_event(facts: ConnectionFacts, route_key: str, data: str | bytes) -> dict[str, Any]:
    """A MESSAGE on ``route_key``: text as it came, binary frames base64-encoded."""
    return websocket_events.message_event(
        data, route_key, connection=facts, message_id=new_connection_id(), **_fresh_request()
    )


def disconnect_event(facts: ConnectionFacts, status_code: int, reason: str) -> dict[str, Any]:
    return websocket_events.disconnect_event(status_code, reason, connection=facts, **_fresh_request())


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
