"""Which transport posts to the Management API: botocore for one connection, close and info (``boto``), signed
requests over pooled keep-alive connections for many (``concurrent``).

The transports are imported on their first use, here, never when Django starts: a container that never sends
never loads botocore's client machinery or the concurrent sender (Lambda's init imports only what every event needs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from websockets_app.conf import ws_settings
from websockets_app.messaging.deadlines import send_deadline
from websockets_app.messaging.results import SendResult, Target

# Sends to this many connections or fewer run in the calling thread through botocore's client: no event loop,
# no thread hand-off, and the same client serves close() and info().
BOTO3_MAX_TARGETS = 1
# Error answers are read up to this many bytes (AWS's are a few hundred); the rest is never downloaded.
MAX_ERROR_BODY_BYTES = 4096


def deliver(targets: Sequence[Target], body: bytes, deadline: float | None = None) -> SendResult:
    """Post ``body`` to the targets with the transport that suits their number, until ``deadline`` (a
    ``time.monotonic()`` value; by default ``send_deadline``). No database access."""
    if deadline is None:
        deadline = send_deadline(ws_settings.SEND_TIMEOUT_SECONDS)
    if len(targets) <= BOTO3_MAX_TARGETS:
        from websockets_app.messaging.transports import boto

        return boto.post_each(targets, body, deadline)
    return deliver_concurrently(targets, body, deadline)


def deliver_concurrently(targets: Sequence[Target], body: bytes, deadline: float) -> SendResult:
    """Post ``body`` to the targets through the concurrent transport, as the settings size it."""
    from websockets_app.messaging.transports import concurrent

    return concurrent.deliver(
        targets,
        body,
        concurrency=ws_settings.SEND_CONCURRENCY,
        max_attempts=ws_settings.SEND_MAX_ATTEMPTS,
        deadline=deadline,
        rate_limit=ws_settings.SEND_RATE_LIMIT_PER_SECOND,
    )


def delete_connection(target: Target, deadline: float | None = None) -> bool:
    """Close the connection (see ``boto.delete_connection``)."""
    from websockets_app.messaging.transports import boto

    return boto.delete_connection(target, deadline)


def get_connection(target: Target) -> dict[str, Any] | None:
    """API Gateway's facts about the connection (see ``boto.get_connection``)."""
    from websockets_app.messaging.transports import boto

    return boto.get_connection(target)
