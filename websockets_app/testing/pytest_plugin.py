"""pytest fixtures for testing WebSocket views; enable them in your ``conftest.py`` with
``pytest_plugins = ["websockets_app.testing.pytest_plugin"]`` (pytest-django provides the database).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from websockets_app.testing.client import WebSocketTestClient
from websockets_app.testing.management_api import FakeManagementApi


@pytest.fixture
def ws_client(db: Any) -> Iterator[WebSocketTestClient]:
    """A ``WebSocketTestClient`` on the test database, open for the test and closed after it."""
    with WebSocketTestClient() as client:
        yield client


@pytest.fixture
def ws_management_api(ws_client: WebSocketTestClient) -> FakeManagementApi:
    """The fake Management API behind ``ws_client``: every post, close and info call the app made."""
    return ws_client.management_api
