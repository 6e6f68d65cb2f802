"""The Management API through boto3: posts to a few connections, closing a connection and asking about one.

Used where one request at a time is all there is (a view replying to its own connection, ``close``, ``info``).
Sends to many connections go through ``concurrent_sender`` instead, which costs a tenth of the CPU per post.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from websockets_app import aws
from websockets_app.conf import ws_settings
from websockets_app.delivery import (
    CONNECTION_ERROR,
    TIMEOUT,
    Delivery,
    Failure,
    ManagementApiError,
    Target,
    backoff_delay,
    classify,
)

SERVICE = "apigatewaymanagementapi"


def client_for(endpoint: str, region: str) -> Any:
    """The cached boto3 client for one Management API endpoint."""
    return aws.client(SERVICE, region, endpoint, pool_size=ws_settings.SEND_CONCURRENCY)


def _call(target: Target, operation: str, max_attempts: int, **params: Any) -> tuple[str, Any, Failure | None]:
    """Run one Management API operation, retrying throttling and dropped connections with backoff.

    Returns ``(outcome, response, failure)`` where outcome is "sent" (the call succeeded), "gone" or "failed".
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    client = client_for(target.endpoint, target.region)
    failure: Failure | None = None
    for attempt in range(1, max_attempts + 1):
        try:
            return "sent", getattr(client, operation)(ConnectionId=target.connection_id, **params), None
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            error = exc.response.get("Error", {})
            code = error.get("Code") or f"HTTP{status}"
            outcome = classify(status, code)
            if outcome == "gone":
                return "gone", None, None
            failure = Failure(target.connection_id, code, error.get("Message", ""), status)
            if outcome != "throttled":
                return "failed", None, failure
        except (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError) as exc:
            # Nothing reached API Gateway (or the pooled connection was stale): safe to try again.
            failure = Failure(target.connection_id, CONNECTION_ERROR, str(exc))
        except ReadTimeoutError as exc:
            # The request may have been delivered; repeating it could deliver twice.
            return "failed", None, Failure(target.connection_id, TIMEOUT, str(exc))
        except BotoCoreError as exc:
            return "failed", None, Failure(target.connection_id, type(exc).__name__, str(exc))
        if attempt < max_attempts:
            time.sleep(backoff_delay(attempt))
    return "failed", None, failure


def post_each(targets: Iterable[Target], body: bytes) -> Delivery:
    """Post ``body`` to each target in turn (meant for one or a handful of connections)."""
    delivery = Delivery()
    for target in targets:
        outcome, _, failure = _call(target, "post_to_connection", ws_settings.SEND_MAX_ATTEMPTS, Data=body)
        delivery.record(target.connection_id, outcome, failure)  # type: ignore[arg-type]
    return delivery


def delete_connection(target: Target) -> bool:
    """Close the connection; False when it was already gone. Raises ``ManagementApiError`` otherwise."""
    outcome, _, failure = _call(target, "delete_connection", ws_settings.SEND_MAX_ATTEMPTS)
    if failure is not None:
        raise ManagementApiError(failure)
    return outcome == "sent"


def get_connection(target: Target) -> dict[str, Any] | None:
    """What API Gateway knows about the connection (connectedAt, identity, lastActiveAt); None when gone."""
    outcome, response, failure = _call(target, "get_connection", ws_settings.SEND_MAX_ATTEMPTS)
    if failure is not None:
        raise ManagementApiError(failure)
    if outcome == "gone":
        return None
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}
