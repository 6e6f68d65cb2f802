"""Server -> client messages through the API Gateway Management API.

    session.send_message({"type": "reply"})                            # one connection
    WebSocketSession.objects.in_channel("lobby").send_message(data)    # a queryset: its connected rows
    send_to_channel("lobby", data)   send_to_user(user, data)   broadcast(data)
    close(session)                   info(session)                  close_connections_of(user)

Every send encodes the message once, posts it to each connection's own gateway endpoint, marks the connections
API Gateway reports gone as disconnected in one UPDATE, and returns a ``SendResult``. One connection failing
never stops the others. A send ends by its deadline (``SEND_TIMEOUT_SECONDS``, and within a Lambda invocation
entered through ``lambda_context`` never later than its remaining time allows), and is at most once: a post
that may have arrived is reported ``unknown``, never sent again.

The layers, each a module of this package: ``api`` (the functions above) -> ``transports`` (which transport
posts: ``transports.boto`` in the calling thread for one connection, close and info; ``transports.concurrent``,
signed requests over keep-alive connections, for more) -> ``retry`` (one decision table for both: sent, gone,
tried again, failed or unknown), with ``results``, ``deadlines`` and ``aws_clients`` beside them. Above
``FANOUT_THRESHOLD`` connections, with a ``FANOUT_QUEUE_URL``, the ids are handed to SQS in batches and a fan-out
function delivers them (``fanout``: the queue's message format and its consumer, together).
"""

from __future__ import annotations

from websockets_app.messaging.api import (
    broadcast,
    close,
    close_connections_of,
    info,
    send_to_channel,
    send_to_queryset,
    send_to_sessions,
    send_to_user,
)
from websockets_app.messaging.deadlines import lambda_context
from websockets_app.messaging.endpoints import NO_API_GATEWAY, NO_ENDPOINT
from websockets_app.messaging.payloads import MAX_PAYLOAD_BYTES, encode_payload
from websockets_app.messaging.results import (
    CloseResult,
    Failure,
    ManagementApiError,
    MessagingError,
    PayloadError,
    SendResult,
)
from websockets_app.messaging.transports import deliver

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "NO_API_GATEWAY",
    "NO_ENDPOINT",
    "CloseResult",
    "Failure",
    "ManagementApiError",
    "MessagingError",
    "PayloadError",
    "SendResult",
    "broadcast",
    "close",
    "close_connections_of",
    "deliver",
    "encode_payload",
    "info",
    "lambda_context",
    "send_to_channel",
    "send_to_queryset",
    "send_to_sessions",
    "send_to_user",
]
