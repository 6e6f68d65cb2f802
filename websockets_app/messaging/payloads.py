"""A message's bytes, as every send posts them: encoded once, and refused before any post when API Gateway would."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from websockets_app.limits import MAX_MESSAGE_BYTES, describe_bytes
from websockets_app.messaging.results import PayloadError

# API Gateway's limit for one message posted to a connection.
MAX_PAYLOAD_BYTES = MAX_MESSAGE_BYTES


def encode_payload(data: Any) -> bytes:
    """The bytes to post: ``bytes`` as they are, ``str`` as UTF-8, anything else as JSON (dates, UUIDs, Decimals)."""
    if isinstance(data, bytes | bytearray | memoryview):
        body = bytes(data)
    elif isinstance(data, str):
        body = data.encode("utf-8")
    else:
        try:
            body = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise PayloadError(f"The message cannot be encoded as JSON: {exc}") from exc
    if not body:
        raise PayloadError("The message is empty; API Gateway does not deliver empty messages.")
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadError(
            f"The message is {len(body)} bytes; API Gateway accepts at most {MAX_PAYLOAD_BYTES} bytes "
            f"({describe_bytes(MAX_PAYLOAD_BYTES)})."
        )
    return body
