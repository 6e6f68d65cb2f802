"""Where the toolkit meets the app's Lambda adapter and its event builder (development seam, replaced at merge)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def websocket_handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    from django.core.wsgi import get_wsgi_application

    from infra.websocket import make_websocket_handler

    return make_websocket_handler(get_wsgi_application())


def request_context(event_type: str, route_key: str, connection_id: str, **facts: Any) -> dict[str, Any]:
    context = {
        "routeKey": route_key,
        "eventType": event_type,
        "messageDirection": "IN",
        "stage": facts["stage"],
        "identity": {"sourceIp": facts["source_ip"]},
        "domainName": facts["domain_name"],
        "connectionId": connection_id,
        "apiId": facts["api_id"],
    }
    return context


def connect_event(connection_id: str, *, query: dict[str, str], headers: dict[str, str], **facts: Any) -> dict:
    event: dict[str, Any] = {
        "headers": dict(headers),
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": request_context("CONNECT", "$connect", connection_id, **facts),
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
        event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()}
    return event


def message_event(connection_id: str, *, body: str, is_base64: bool, route_key: str, **facts: Any) -> dict:
    return {
        "requestContext": request_context("MESSAGE", route_key, connection_id, **facts),
        "body": body,
        "isBase64Encoded": is_base64,
    }


def disconnect_event(connection_id: str, **facts: Any) -> dict:
    return {
        "headers": {"Host": facts["domain_name"]},
        "multiValueHeaders": {"Host": [facts["domain_name"]]},
        "requestContext": request_context("DISCONNECT", "$disconnect", connection_id, **facts),
        "isBase64Encoded": False,
    }


def select_route(data: str | bytes, path: tuple[str, ...], routes: frozenset[str]) -> str:
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
