"""The fan-out consumer: an SQS event of connection-id batches (see ``websockets_app.fanout``) -> posts.

Each record is one batch, posted concurrently. The answer is SQS's partial batch response: only records that
hold failures worth another try (throttling that outlasted the retries, dropped connections, 5xx) or that could
not be read are returned in ``batchItemFailures``, so SQS redelivers just those (and, after its maxReceiveCount,
moves them to the dead-letter queue). Connections already sent to in a redelivered record get the message again:
delivery is at least once. Gone connections are marked disconnected as in any other send.
"""

from __future__ import annotations

import logging
from typing import Any

from websockets_app.fanout import FanoutFormatError, decode_message
from websockets_app.messaging import deliver_batch

logger = logging.getLogger(__name__)


def handle_fanout_batch(event: dict, context: Any) -> dict:
    """SQS event -> ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``."""
    failed_ids: list[str] = []
    for record in event.get("Records", []):
        message_id = record.get("messageId", "")
        try:
            batch = decode_message(record.get("body", ""))
        except FanoutFormatError as exc:
            # Kept for the dead-letter queue rather than dropped: someone has to look at it.
            logger.error("Fan-out message %s cannot be read: %s", message_id, exc)
            failed_ids.append(message_id)
            continue
        result = deliver_batch(batch)
        retryable = [failure for failure in result.failed if failure.retryable]
        if retryable:
            logger.warning(
                "Fan-out message %s: %d of %d connections will be retried (%s).",
                message_id,
                len(retryable),
                len(batch.connection_ids),
                ", ".join(sorted({failure.code for failure in retryable})),
            )
            failed_ids.append(message_id)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed_ids]}
