"""What kind of Lambda event this is, told from its shape alone (no field is assumed to exist)."""

from __future__ import annotations

from typing import Any

from websockets_app.gateway import EVENT_TYPES as WEBSOCKET_EVENT_TYPES

WEBSOCKET = "websocket"
HTTP = "http"
CLEANUP = "cleanup"
MANAGE = "manage"
FANOUT = "fanout"

_SCHEDULE_SOURCES = frozenset({"aws.events", "aws.scheduler"})


def event_kind(event: Any) -> str | None:
    """WEBSOCKET, HTTP, CLEANUP, MANAGE or FANOUT; None for an event of no known shape."""
    if not isinstance(event, dict):
        return None
    request_context = event.get("requestContext")
    if isinstance(request_context, dict):
        if _is_str_in(request_context.get("eventType"), WEBSOCKET_EVENT_TYPES):
            return WEBSOCKET
        if "http" in request_context or "elb" in request_context:  # HTTP API v2 / Function URL, ALB
            return HTTP
    if isinstance(event.get("httpMethod"), str) and isinstance(event.get("path"), str):  # REST API v1, ALB
        return HTTP
    if "manage" in event or "_serverless-wsgi" in event or "create_admin" in event:
        return MANAGE
    records = event.get("Records")
    if isinstance(records, list) and records and all(_is_sqs_record(record) for record in records):
        return FANOUT
    if (
        "cleanup" in event
        or event.get("detail-type") == "Scheduled Event"
        or _is_str_in(event.get("source"), _SCHEDULE_SOURCES)
    ):
        return CLEANUP
    return None


def _is_sqs_record(record: Any) -> bool:
    return isinstance(record, dict) and record.get("eventSource") == "aws:sqs"


def _is_str_in(value: Any, names: frozenset[str]) -> bool:
    # A client-shaped field may hold a list or a dict, which a set lookup cannot even hash.
    return isinstance(value, str) and value in names
