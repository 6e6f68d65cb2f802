"""Realistic Lambda events, shaped as API Gateway, ALB, EventBridge and SQS deliver them.

WebSocket events come from the app's builder (``websockets_app.aws_lambda.events``), with a browser's handshake.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from websockets_app.aws_lambda import events
from websockets_app.aws_lambda.events import SAMPLE_CONNECTION

API_ID = events.SAMPLE_API_ID
STAGE = events.SAMPLE_STAGE
REGION = events.SAMPLE_REGION
DOMAIN = events.SAMPLE_DOMAIN
CONNECTION_ID = events.SAMPLE_CONNECTION_ID
SOURCE_IP = events.SAMPLE_SOURCE_IP

# A browser's handshake, as it reaches API Gateway.
BROWSER_HEADERS = {
    "Host": DOMAIN,
    "Origin": "https://www.example.com",
    "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
    "User-Agent": "Mozilla/5.0",
    "X-Amzn-Trace-Id": "Root=1-6740c1d0-0a1b2c3d4e5f",
}


def request_context(event_type: str, route_key: str, connection_id: str = CONNECTION_ID, **extra: Any) -> dict:
    return events.request_context(_connection(connection_id), event_type, route_key, **extra)


def connect_event(
    connection_id: str = CONNECTION_ID,
    *,
    query: dict[str, str] | None = None,
    cookie: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict:
    all_headers = dict(BROWSER_HEADERS)
    if cookie:
        all_headers["Cookie"] = cookie
    all_headers.update(headers or {})
    return events.connect_event(all_headers, query or {}, connection=_connection(connection_id))


def message_event(
    body: Any = None, *, connection_id: str = CONNECTION_ID, route_key: str = "$default", raw: str | None = None
) -> dict:
    data = raw if raw is not None else json.dumps(body if body is not None else {})
    return events.message_event(data, route_key, connection=_connection(connection_id))


def disconnect_event(connection_id: str = CONNECTION_ID) -> dict:
    return events.disconnect_event(connection=_connection(connection_id))


def _connection(connection_id: str) -> events.Connection:
    return replace(SAMPLE_CONNECTION, connection_id=connection_id)


def http_event(path: str, *, host: str = DOMAIN, method: str = "GET", query: str = "") -> dict:
    """An HTTP API (payload v2) request."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "cookies": [],
        "headers": {"host": host, "x-forwarded-proto": "https", "x-forwarded-port": "443", "user-agent": "pytest"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "h1t2t3p4a5",
            "domainName": host,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": SOURCE_IP, "userAgent": "x"},
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1_795_000_000_000,
        },
        "isBase64Encoded": False,
    }


def schedule_event(job: str | None = None) -> dict:
    """An EventBridge schedule: with a job it is the target's constant input; without, the bare envelope."""
    if job is not None:
        return {"cleanup": job}
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-21T10:00:00Z",
        "region": REGION,
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/cleanup"],
        "detail": {},
    }


def sqs_event(*bodies: str) -> dict:
    return {
        "Records": [
            {
                "messageId": f"m-{n}",
                "receiptHandle": f"rh-{n}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:fanout",
                "awsRegion": REGION,
            }
            for n, body in enumerate(bodies)
        ]
    }


class FakeLambdaContext:
    function_name = "django-websockets-WebSocketFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:django-websockets-WebSocketFunction"
    aws_request_id = "8f5a4b4e-1f3c-4c1e-9d0e-0123456789ab"
