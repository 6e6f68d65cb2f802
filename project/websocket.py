"""The project's WebSocket view: what this site does with WebSocket messages.

``{"action": "ping"}`` is answered with ``{"pong": true}`` (on a two-way route; ws-client.js sends it to keep an
idle connection open), the chat example adds ``send`` and ``history`` and switches on the built-in ``resume`` and
``presence`` (project/chat/websocket.py; docs/replay.md), and any other message is accepted. Add a method per
action, marked @handler; see websockets_app.views.WebSocketView for the rules.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from project.chat.websocket import ChatActionsMixin
from websockets_app.views import WebSocketView, handler


class SiteWebSocketView(ChatActionsMixin, WebSocketView):
    @handler
    def ping(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"pong": True}
