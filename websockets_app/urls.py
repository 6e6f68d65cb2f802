"""URL helper: mount a WebSocketView where the Lambda entry point sends WebSocket events.

    urlpatterns = [websocket_path(ChatWebSocketView.as_view()), ...]

gives ``ws/<slug:route>`` with the default ``WEBSOCKETS["URL_PREFIX"]`` of ``/ws/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, path

from websockets_app.conf import ws_settings


def websocket_path(view: Callable[..., Any], name: str = "websocket") -> URLPattern:
    prefix = ws_settings.URL_PREFIX.strip("/")
    return path(f"{prefix}/<slug:route>" if prefix else "<slug:route>", view, name=name)
