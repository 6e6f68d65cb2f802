"""The JSON a chat client receives: ``chat.message`` for each new message, ``chat.history`` for a room's latest.

Both carry messages in one shape, so a page renders a message the same way whichever way it arrived (by id, which
makes a repeated one harmless).
"""

from __future__ import annotations

from typing import Any

from project.chat.models import ChatMessage
from websockets_app.messaging import MAX_PAYLOAD_BYTES, encode_payload


def message_payload(message: ChatMessage) -> dict[str, Any]:
    return {
        "type": "chat.message",
        "id": message.pk,
        "room": message.room,
        "author": message.author.get_username(),
        "text": message.text,
        "sent_at": message.created_at.isoformat(),
    }


def history_payload(room: str, messages: list[ChatMessage]) -> bytes:
    """``chat.history`` for ``messages`` (oldest first), encoded; as many of the newest as fit in one message.

    Fifty messages of 2,000 characters can exceed what API Gateway delivers in one message (128 KB), so the oldest
    are left out until the rest fit.
    """
    payloads = [message_payload(message) for message in messages]
    budget = MAX_PAYLOAD_BYTES - len(encode_payload({"type": "chat.history", "room": room, "messages": []}))
    kept: list[dict[str, Any]] = []
    for payload in reversed(payloads):
        budget -= len(encode_payload(payload)) + (1 if kept else 0)  # the comma between two messages
        if budget < 0:
            break
        kept.append(payload)
    kept.reverse()
    return encode_payload({"type": "chat.history", "room": room, "messages": kept})
