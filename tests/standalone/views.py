"""The standalone project's WebSocket view: ``{"action": "echo", "text": ...}`` is sent back to its connection."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from websockets_app.views import WebSocketView, handler


class EchoWebSocketView(WebSocketView):
    USE_WS_TOKEN = False  # no pages here to issue tokens; the round trip is what is tested

    @handler
    def echo(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # Server -> client: a post to the Management API, besides the route's own answer.
        self.websocket_session.send_message({"echo": self.body.get("text")})
        return {"echoed": True}
