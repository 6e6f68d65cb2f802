"""websockets_app.aws_lambda.make_websocket_handler: the app's Lambda handler for WebSocket events."""

from __future__ import annotations

import pytest

from tests.events import connect_event
from websockets_app.aws_lambda import database, make_websocket_handler
from websockets_app.models import WebSocketSession

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ws_test_views", "keep_test_connection")]


def test_without_an_application_it_runs_djangos_for_the_settings_module():
    handler = make_websocket_handler()
    assert handler(connect_event("default-app="), None)["statusCode"] == 200
    assert WebSocketSession.objects.filter(connection_id="default-app=").exists()


def test_a_database_that_cannot_be_reached_is_a_500_and_the_view_never_runs(monkeypatch, websocket_handler):
    def unreachable(connection: object, *, health_check: bool) -> None:
        raise database.DatabaseUnavailable("Database unreachable: cannot connect to the test database")

    monkeypatch.setattr(database, "_connect", unreachable)
    result = websocket_handler(connect_event("no-db="), None)
    assert (result["statusCode"], result["body"]) == (500, "Internal server error.")
    assert not WebSocketSession.objects.exists()


def test_an_event_that_is_not_a_websocket_request_is_a_400(websocket_handler):
    assert websocket_handler({"requestContext": {"routeKey": "$connect"}}, None) == {
        "statusCode": 400,
        "body": "Bad request.",
    }
