"""The chat's message rate limit: a connection past it stores nothing and posts nothing to the room."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from project.chat.models import ChatMessage
from project.websocket import SiteWebSocketView
from tests.events import API_ID, DOMAIN, STAGE, message_event
from websockets_app.aws_lambda.wsgi import LambdaHandler
from websockets_app.models import ApiGateway, WebSocketSession

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]

LIMIT = SiteWebSocketView.message_rate_limit


@pytest.fixture(autouse=True)
def _hosts(settings):
    settings.ALLOWED_HOSTS = [DOMAIN, "testserver"]


@pytest.fixture
def room(django_user_model) -> WebSocketSession:
    api = ApiGateway.objects.create(api_name="site", api_id=API_ID, stage_name=STAGE, region="eu-west-1")
    ada, bob = (django_user_model.objects.create_user(name, password="pw") for name in ("ada", "bob"))
    WebSocketSession.objects.create(connection_id="bob=", channel_name="room-1", user=bob, api_gateway=api)
    return WebSocketSession.objects.create(connection_id="ada=", channel_name="room-1", user=ada, api_gateway=api)


@pytest.fixture
def send(websocket_handler: LambdaHandler) -> Callable[..., Any]:
    """A chat message from ada=, through the app's Lambda handler: the result."""

    def send(text: str) -> dict:
        return websocket_handler(message_event({"action": "send", "text": text}, connection_id="ada="), None)

    return send


def test_the_chat_has_a_limit_that_suits_a_chat():
    assert (SiteWebSocketView.message_rate_limit, SiteWebSocketView.message_rate_limit_window_seconds) == (20, 10)


def test_a_send_past_the_chats_limit_is_a_429_that_stores_and_posts_nothing(room, management_stub, send):
    assert {send(f"message {n}")["statusCode"] for n in range(LIMIT)} == {200}
    result = send("one too many")
    assert result["statusCode"] == 429
    assert 1 <= int(result["multiValueHeaders"]["Retry-After"][0]) <= 10
    assert ChatMessage.objects.count() == LIMIT
    assert not ChatMessage.objects.filter(text="one too many").exists()
    posted = [json.loads(body)["data"]["text"] for body in management_stub.stub.delivered["bob="]]
    assert len(posted) == LIMIT
    assert "one too many" not in posted
    room.refresh_from_db()
    assert room.request_count == 1 + LIMIT


def test_the_next_window_lets_the_connection_chat_again(room, management_stub, send):
    for n in range(LIMIT + 1):
        send(f"message {n}")
    WebSocketSession.objects.filter(pk=room.pk).update(message_window_start=room.created_on - timedelta(seconds=11))
    assert send("back again")["statusCode"] == 200
    assert ChatMessage.objects.filter(text="back again").exists()
