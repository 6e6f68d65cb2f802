from __future__ import annotations

from tests.standalone.views import EchoWebSocketView
from websockets_app.urls import websocket_path

urlpatterns = [websocket_path(EchoWebSocketView.as_view())]
