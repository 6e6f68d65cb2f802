"""Test your own WebSocket views in-process, through the same path as production, with no AWS.

    from websockets_app.testing import WebSocketTestClient

    with WebSocketTestClient() as client:
        alice = client.connect(user=alice_user, query={"channel": "lobby"})
        alice.send({"action": "send", "text": "hi"})
        assert alice.received == [...]

With pytest, enable the fixtures ``ws_client`` and ``ws_management_api`` with one line in ``conftest.py``:
``pytest_plugins = ["websockets_app.testing.pytest_plugin"]``. See docs/testing.md.
"""

from websockets_app.testing.client import ConnectCredentials, WebSocketTestClient, WebSocketTestConnection
from websockets_app.testing.management_api import FakeManagementApi, ManagementApiCall

__all__ = [
    "ConnectCredentials",
    "FakeManagementApi",
    "ManagementApiCall",
    "WebSocketTestClient",
    "WebSocketTestConnection",
]
