"""The fan-out consumer: an SQS event of connection-id batches (see ``fanout.batches``) -> posts.

Each record is one batch, posted concurrently, and handled on its own: nothing one record holds can make the
handler raise or stop the others. The answer is SQS's partial batch response, built for at most once delivery:

* a record is returned in ``batchItemFailures`` (SQS redelivers it, and after its maxReceiveCount moves it to the
  dead-letter queue) only when nothing in it can have arrived and trying again may help: every failure is a
  refused connection, throttling that outlasted the retries, or a deadline reached before the post started;
* a record with a post that was delivered or may have been (``unknown``) is never returned: a redelivery would
  post to those connections again. The connections in it that provably were not reached (refused connects,
  throttling) are put back on the queue as a new, delayed batch of their own, at most ``MAX_REQUEUES`` times
  (the function needs ``sqs:SendMessage`` on its queue); the rest are logged;
* a record that can never succeed (unreadable, an endpoint that is not one of this project's gateways, an invalid
  connection id) is logged and dropped. Nothing in it is signed or sent: a forged record must not carry the
  function's credentials to another host, nor disconnect sessions by answering 410.

Known endpoints are ``WEBSOCKETS["MANAGEMENT_ENDPOINT_URL"]`` and the ``management_endpoint_url`` of every
``ApiGateway`` row, read in one query per invocation, and only when a record names another endpoint (no cache
across invocations, so a gateway added or removed counts from the next event on).

Every send ends by ``SEND_TIMEOUT_SECONDS`` and never later than the invocation's remaining time allows.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from websockets_app.conf import ws_settings
from websockets_app.messaging import transports
from websockets_app.messaging.api import log_result, mark_gone
from websockets_app.messaging.deadlines import lambda_context, send_deadline
from websockets_app.messaging.endpoints import endpoint_of
from websockets_app.messaging.fanout.batches import (
    MAX_REQUEUES,
    FanoutBatch,
    FanoutFormatError,
    decode_message,
    enqueue,
)
from websockets_app.messaging.results import SendResult, Target
from websockets_app.models import ApiGateway

logger = logging.getLogger(__name__)


class KnownEndpoints:
    """The (endpoint, signing region) pairs this project posts to; the database is read once, when needed."""

    def __init__(self) -> None:
        self._gateways: set[tuple[str, str]] | None = None

    def allows(self, endpoint: str, region: str) -> bool:
        if ws_settings.MANAGEMENT_ENDPOINT_URL and endpoint == ws_settings.MANAGEMENT_ENDPOINT_URL:
            return True
        if self._gateways is None:
            self._gateways = self._load()
        return (endpoint, region) in self._gateways

    @staticmethod
    def _load() -> set[tuple[str, str]]:
        known: set[tuple[str, str]] = set()
        for gateway in ApiGateway.objects.exclude(api_id="").only("api_id", "region", "stage_name", "api_name"):
            try:
                known.add(endpoint_of(gateway))
            except ValueError:  # no region known: nothing can be posted through it
                continue
        return known


class _HandBack(Exception):
    """The record should come back from SQS: nothing in it was sent."""


def handle_fanout_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS event -> ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``. Never raises."""
    records = event.get("Records") if isinstance(event, dict) else None
    failed_ids: list[str] = []
    endpoints = KnownEndpoints()
    with lambda_context(context):
        for record in records if isinstance(records, list) else []:
            message_id = record.get("messageId") if isinstance(record, dict) else None
            if not isinstance(message_id, str):
                logger.error("Fan-out event has a record without a message id; it is dropped.")
                continue
            try:
                _handle_record(record, message_id, endpoints)
            except _HandBack:
                failed_ids.append(message_id)
            except Exception:
                # Posts may have gone out before this: handing the record back could deliver twice.
                logger.exception("Fan-out message %s failed unexpectedly; it is dropped.", message_id)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed_ids]}


def _handle_record(record: dict[str, Any], message_id: str, endpoints: KnownEndpoints) -> None:
    try:
        batch = decode_message(record.get("body", ""))
    except FanoutFormatError as exc:
        logger.error("Fan-out message %s cannot be read and is dropped: %s", message_id, exc)
        return
    try:
        allowed = endpoints.allows(batch.endpoint, batch.region)
    except Exception as exc:  # the database cannot say: nothing was sent, so SQS may bring it back later
        logger.error("Fan-out message %s: the known endpoints cannot be read (%s).", message_id, type(exc).__name__)
        raise _HandBack from exc
    if not allowed:
        logger.error(
            "Fan-out message %s names an endpoint that is not one of this project's gateways (%.100r, %s); "
            "it is dropped unsent.",
            message_id,
            batch.endpoint,
            batch.region,
        )
        return
    deadline = send_deadline(ws_settings.SEND_TIMEOUT_SECONDS)
    if deadline <= time.monotonic():  # the invocation is about to end: SQS brings the record back
        raise _HandBack
    result = deliver_batch(batch, deadline)
    _settle(message_id, batch, result)


def deliver_batch(batch: FanoutBatch, deadline: float | None = None) -> SendResult:
    """Deliver one batch taken from the fan-out queue and mark its gone connections (the consumer's work)."""
    started = time.perf_counter()
    result = transports.deliver_concurrently(
        batch.targets,
        batch.payload,
        send_deadline(ws_settings.SEND_TIMEOUT_SECONDS) if deadline is None else deadline,
    )
    mark_gone(result.gone)
    result.duration = time.perf_counter() - started
    log_result(result)
    return result


def _settle(message_id: str, batch: FanoutBatch, result: SendResult) -> None:
    """Hand the record back only when that cannot deliver anything twice; else put back what was not reached."""
    if not result.failed:
        return
    retryable = all(failure.retryable for failure in result.failed)
    codes = ", ".join(sorted({failure.code for failure in result.failed}))
    if retryable and not result.sent and not result.unknown:
        logger.warning(
            "Fan-out message %s: none of its %d connections was reached (%s); SQS will bring it back.",
            message_id,
            len(batch.connection_ids),
            codes,
        )
        raise _HandBack
    unreached = [failure.connection_id for failure in result.failed if failure.retryable]
    lost = len(result.failed) - len(unreached)
    if unreached:
        lost += _requeue(message_id, batch, unreached)
    if lost:
        logger.error(
            "Fan-out message %s: %d of %d connections were not delivered to (%s) and are not tried again.",
            message_id,
            lost,
            len(batch.connection_ids),
            codes,
        )


def requeue_delay(requeues: int) -> int:
    """Seconds SQS holds a batch put back for the ``requeues``-th time: throttling that outlasted the retries needs
    time, not haste (5, 10, 20, 40, 80 s; SQS allows at most 900)."""
    delay: int = 5 * 2**requeues
    return min(900, delay)


def _requeue(message_id: str, batch: FanoutBatch, connection_ids: list[str]) -> int:
    """Put the connections a record did not reach back on the queue; returns how many could not be."""
    queue_url = ws_settings.FANOUT_QUEUE_URL
    if not queue_url or batch.requeues >= MAX_REQUEUES:
        return len(connection_ids)
    targets = [Target(connection_id, batch.endpoint, batch.region) for connection_id in connection_ids]
    delay = requeue_delay(batch.requeues)
    _, not_queued = enqueue(queue_url, targets, batch.payload, requeues=batch.requeues + 1, delay_seconds=delay)
    logger.warning(
        "Fan-out message %s: %d connections it did not reach are queued again (in %d s).",
        message_id,
        len(connection_ids) - len(not_queued),
        delay,
    )
    return len(not_queued)
