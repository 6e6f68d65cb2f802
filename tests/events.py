"""Realistic Lambda events, shaped as API Gateway, ALB, EventBridge and SQS deliver them."""

from __future__ import annotations

import json
from typing import Any

API_ID = "a1b2c3d4e5"
STAGE = "production"
REGION = "eu-west-1"
DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
CONNECTION_ID = "L0SM9cOFvHcCIhw="
SOURCE_IP = "203.0.113.7"


def request_context(event_type: str, route_key: str, connection_id: str = CONNECTION_ID, **extra: Any) -> dict:
    context = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": "L0SM9FOVHcCF5vA=",
        "requestTime": "21/Nov/2026:10:00:00 +0000",
        "messageDirection": "IN",
        "stage": STAGE,
        "connectedAt": 1_795_000_000_000,
        "requestTimeEpoch": 1_795_000_000_123,
        "identity": {"userAgent": "Mozilla/5.0", "sourceIp": SOURCE_IP},
        "requestId": "L0SM9FOVHcCF5vA=",
        "domainName": DOMAIN,
        "connectionId": connection_id,
        "apiId": API_ID,
    }
    context.update(extra)
    return context


def connect_event(
    connection_id: str = CONNECTION_ID,
    *,
    query: dict[str, str] | None = None,
    cookie: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict:
    all_headers = {
        "Host": DOMAIN,
        "Origin": "https://www.example.com",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "User-Agent": "Mozilla/5.0",
        "X-Amzn-Trace-Id": "Root=1-6740c1d0-0a1b2c3d4e5f",
        "X-Forwarded-For": SOURCE_IP,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    if cookie:
        all_headers["Cookie"] = cookie
    all_headers.update(headers or {})
    event: dict[str, Any] = {
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "requestContext": request_context("CONNECT", "$connect", connection_id),
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
        event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()}
    return event


def message_event(
    body: Any = None, *, connection_id: str = CONNECTION_ID, route_key: str = "$default", raw: str | None = None
) -> dict:
    return {
        "requestContext": request_context("MESSAGE", route_key, connection_id, messageId="Ltl9ZdPmCF8Aaxg="),
        "body": raw if raw is not None else json.dumps(body if body is not None else {}),
        "isBase64Encoded": False,
    }


def disconnect_event(connection_id: str = CONNECTION_ID) -> dict:
    headers = {"Host": DOMAIN, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": request_context(
            "DISCONNECT", "$disconnect", connection_id, disconnectStatusCode=1001, disconnectReason="Going away"
        ),
        "isBase64Encoded": False,
    }


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
