"""``ChatMessage``: one message said in a room. A room is a WebSocket channel name."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from websockets_app.validators import CHANNEL_NAME_COLUMN_LENGTH, validate_channel_name

TEXT_MAX_LENGTH = 2000
# Messages a page shows on load, and the `history` action returns.
HISTORY_LENGTH = 50


def clean_text(value: object) -> str:
    """The text to store: a string of 1 to 2000 characters once surrounding white space is stripped."""
    if not isinstance(value, str):
        raise ValidationError("A message text must be a string.")
    text = value.strip()
    if not text:
        raise ValidationError("A message cannot be empty.")
    if len(text) > TEXT_MAX_LENGTH:
        raise ValidationError(f"A message is at most {TEXT_MAX_LENGTH} characters.")
    return text


class ChatMessageQuerySet(models.QuerySet):
    def latest_in(self, room: str, limit: int = HISTORY_LENGTH) -> list[ChatMessage]:
        """The room's newest ``limit`` messages, oldest first, with their authors: one query on the room index."""
        newest_first = self.filter(room=room).select_related("author").order_by("-created_at", "-id")[:limit]
        return list(reversed(newest_first))


class ChatMessage(models.Model):
    room = models.CharField(max_length=CHANNEL_NAME_COLUMN_LENGTH, validators=[validate_channel_name])
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages")
    text = models.TextField(max_length=TEXT_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ChatMessageQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["room", "-created_at", "-id"], name="chat_room_latest_idx")]

    def __str__(self) -> str:
        return f"{self.room}: {self.text[:50]}"

    def clean(self) -> None:
        self.text = clean_text(self.text)
