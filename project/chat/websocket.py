"""The chat's WebSocket actions, mixed into the site's WebSocketView (project/websocket.py).

    {"action": "send", "text": "hello"}   stored, then sent as chat.message to every connection in the room,
                                          numbered and kept for replay (websockets_app.messaging.replay)
    {"action": "history"}                 answered with chat.history: the room's latest messages
    {"action": "resume", "since": n}      the room's messages after n, replayed (built into WebSocketView)
    {"action": "presence"}                who is in the room; joins and leaves are announced to the room

The room is always the connection's channel, chosen at $connect: a message can never name another room.
Only the methods marked @handler are actions a client may call.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse

from project.chat.models import ChatMessage, clean_text
from project.chat.payloads import history_payload, message_payload
from websockets_app.messaging import send_to_channel
from websockets_app.models import WebSocketSession
from websockets_app.views import handler


class ChatActionsMixin:
    """``send`` and ``history``, for a WebSocketView subclass (list it before WebSocketView)."""

    # A person chats at a few messages a second at most, in short bursts; every send is stored and posted to the
    # whole room, so a connection past this gets a 429 instead (pings and history requests count too).
    message_rate_limit = 20
    message_rate_limit_window_seconds = 10
    # A reconnecting page misses nothing (resume), and everyone sees who is in the room.
    replay_channels = True
    presence_notices = True

    websocket_session: WebSocketSession | None
    body: dict[str, Any]

    @handler
    def send(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        room = self._chat_room()
        if not request.user.is_authenticated:
            raise PermissionDenied("chat messages need a signed-in user")
        text = clean_text(self.body.get("text"))  # a ValidationError is a 400 that writes nothing
        message = ChatMessage.objects.create(room=room, author=request.user, text=text)
        send_to_channel(room, message_payload(message), replay=True)

    @handler
    def history(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        room = self._chat_room()
        body = history_payload(room, ChatMessage.objects.latest_in(room))
        return HttpResponse(body, content_type="application/json")

    def _chat_room(self) -> str:
        session = self.websocket_session
        if session is None or not session.channel_name:
            raise BadRequest("chat actions need a connection opened with ?channel=<room>")
        return session.channel_name
