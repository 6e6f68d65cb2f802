"""Very large sends through SQS: the connection ids are split into batches, each an SQS message with the payload.

A fan-out function (``fanout.consumer``) consumes the queue and posts each batch concurrently, so a send to a
hundred thousand connections does not have to fit in the calling request. The message format is versioned:

    {"v": 1, "endpoint": "https://…/production", "region": "eu-west-1",
     "encoding": "text" | "base64", "payload": "…", "connections": ["id1", "id2", …]}

``payload`` is the exact bytes to post: as a string when they are UTF-8 text (JSON, usually), else base64.
Every message stays within SQS's 256 KiB, and so does every ``SendMessageBatch`` call. A batch the consumer put
back for the connections it provably did not reach carries ``"requeues": n`` (at most ``MAX_REQUEUES``).

A queue message is untrusted input: ``decode_message`` refuses anything this module would not have written
(a URL that does not parse, a region or connection id of the wrong shape, a payload API Gateway would refuse);
the consumer then checks the endpoint against the known gateways before anything is signed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeGuard
from urllib.parse import urlsplit

from websockets_app.conf import ws_settings
from websockets_app.limits import MAX_MESSAGE_BYTES
from websockets_app.messaging import aws_clients
from websockets_app.messaging.results import Failure, Target
from websockets_app.validators import is_valid_connection_id

FORMAT_VERSION = 1
SQS_MAX_BYTES = 256 * 1024
SQS_MAX_ENTRIES_PER_CALL = 10
QUEUE_ERROR = "QueueError"
_QUEUE_REGION = re.compile(r"^https://sqs[.-]([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")
# A signing region: what endpoints.endpoint_of can produce (a gateway's region, or us-east-1).
_SIGNING_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}\Z")
# How often the consumer may put the unreached part of a batch back on the queue before it gives up on it.
MAX_REQUEUES = 5


class FanoutFormatError(ValueError):
    """A queue message that is not a fan-out batch this version understands."""


@dataclass(frozen=True)
class FanoutBatch:
    endpoint: str
    region: str
    payload: bytes
    connection_ids: list[str]
    requeues: int = 0

    @property
    def targets(self) -> list[Target]:
        return [Target(connection_id, self.endpoint, self.region) for connection_id in self.connection_ids]


def _payload_fields(body: bytes) -> dict[str, str]:
    """The smaller faithful text form of the body: itself (UTF-8) or base64."""
    candidates = [{"encoding": "base64", "payload": base64.b64encode(body).decode("ascii")}]
    with contextlib.suppress(UnicodeDecodeError):
        candidates.append({"encoding": "text", "payload": body.decode("utf-8")})
    return min(candidates, key=lambda fields: len(json.dumps(fields["payload"])))


def split_into_messages(
    targets: Sequence[Target], body: bytes, batch_size: int, requeues: int = 0
) -> Iterator[tuple[list[str], str]]:
    """Yield ``(connection_ids, message_body)``: at most ``batch_size`` ids per message, one endpoint each."""
    payload: dict[str, object] = {**_payload_fields(body), **({"requeues": requeues} if requeues else {})}
    by_endpoint: dict[tuple[str, str], list[str]] = {}
    for target in targets:
        by_endpoint.setdefault((target.endpoint, target.region), []).append(target.connection_id)

    for (endpoint, region), connection_ids in by_endpoint.items():
        document = {"v": FORMAT_VERSION, "endpoint": endpoint, "region": region, **payload, "connections": []}
        empty_size = len(json.dumps(document).encode())
        batch: list[str] = []
        size = empty_size
        for connection_id in connection_ids:
            cost = len(json.dumps(connection_id).encode()) + 2  # the quoted id and its ", " separator
            if batch and (len(batch) >= batch_size or size + cost > SQS_MAX_BYTES):
                yield batch, json.dumps({**document, "connections": batch})
                batch, size = [], empty_size
            batch.append(connection_id)
            size += cost
        if batch:
            yield batch, json.dumps({**document, "connections": batch})


def decode_message(text: str) -> FanoutBatch:
    """Parse one queue message; ``FanoutFormatError`` says what is wrong with it."""
    try:
        document = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise FanoutFormatError(f"Not JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("v") != FORMAT_VERSION:
        raise FanoutFormatError(f"Not a version {FORMAT_VERSION} fan-out batch.")
    endpoint, region = document.get("endpoint"), document.get("region")
    connections, encoding, payload = document.get("connections"), document.get("encoding"), document.get("payload")
    if not _is_endpoint(endpoint):
        raise FanoutFormatError("The batch has no valid endpoint.")
    if not (isinstance(region, str) and _SIGNING_REGION.match(region)):
        raise FanoutFormatError("The batch has no valid region.")
    if not (isinstance(connections, list) and connections and all(map(is_valid_connection_id, connections))):
        raise FanoutFormatError("The batch has no list of valid connection ids.")
    if not isinstance(payload, str) or encoding not in ("text", "base64"):  # a tuple: encoding may be a list
        raise FanoutFormatError("The batch has no payload.")
    try:
        body = payload.encode("utf-8") if encoding == "text" else base64.b64decode(payload, validate=True)
    except ValueError as exc:  # UnicodeEncodeError (a lone surrogate) and binascii.Error are ValueErrors
        raise FanoutFormatError("The payload cannot be decoded.") from exc
    if not 0 < len(body) <= MAX_MESSAGE_BYTES:
        raise FanoutFormatError("The payload is empty or larger than API Gateway accepts.")
    requeues = document.get("requeues", 0)
    if isinstance(requeues, bool) or not isinstance(requeues, int) or not 0 <= requeues <= MAX_REQUEUES:
        raise FanoutFormatError(f"The batch's requeue count is not a number from 0 to {MAX_REQUEUES}.")
    return FanoutBatch(endpoint, region, body, connections, requeues)


def _is_endpoint(value: object) -> TypeGuard[str]:
    """An http(s) URL that parses, with a host and a valid port: the shape of a Management API endpoint."""
    if not isinstance(value, str) or not value.isascii() or not value.isprintable():
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return False
    return parts.scheme in {"https", "http"} and bool(parts.hostname) and not parts.query and not parts.fragment


def queue_region(queue_url: str) -> str:
    """The region in an SQS queue URL, else the configured one."""
    match = _QUEUE_REGION.match(queue_url)
    return match.group(1) if match else ws_settings.region or "us-east-1"


def enqueue(
    queue_url: str, targets: Sequence[Target], body: bytes, *, requeues: int = 0, delay_seconds: int = 0
) -> tuple[int, list[Failure]]:
    """Put the batches on the queue; returns the number of messages sent and the connections not queued.

    ``requeues`` and ``delay_seconds`` (SQS's own delay, up to 900) are for batches the consumer puts back.
    """
    sqs = aws_clients.client("sqs", queue_region(queue_url))
    messages = list(split_into_messages(targets, body, ws_settings.FANOUT_BATCH_SIZE, requeues))
    delay = {"DelaySeconds": delay_seconds} if delay_seconds else {}
    queued = 0
    not_queued: list[Failure] = []
    for call in _group_for_calls(messages):
        entries = [{"Id": str(index), "MessageBody": text, **delay} for index, (_, text) in enumerate(call)]
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except Exception as exc:  # any SQS or botocore failure leaves these connections unqueued
            for ids, _ in call:
                not_queued.extend(_not_queued(ids, type(exc).__name__, str(exc)))
            continue
        for failed in response.get("Failed", []):
            ids = call[int(failed["Id"])][0]
            not_queued.extend(_not_queued(ids, failed.get("Code", ""), failed.get("Message", "")))
        queued += len(response.get("Successful", []))
    return queued, not_queued


def _not_queued(connection_ids: list[str], code: str, message: str) -> list[Failure]:
    return [
        Failure(connection_id, f"{QUEUE_ERROR}:{code}" if code else QUEUE_ERROR, message)
        for connection_id in connection_ids
    ]


def _group_for_calls(messages: list[tuple[list[str], str]]) -> Iterator[list[tuple[list[str], str]]]:
    """Group messages into ``SendMessageBatch`` calls: at most 10 entries and 256 KiB per call."""
    call: list[tuple[list[str], str]] = []
    size = 0
    for message in messages:
        message_size = len(message[1].encode())
        if call and (len(call) >= SQS_MAX_ENTRIES_PER_CALL or size + message_size > SQS_MAX_BYTES):
            yield call
            call, size = [], 0
        call.append(message)
        size += message_size
    if call:
        yield call
