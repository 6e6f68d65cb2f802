"""The chat example: its pages through the test client, its WebSocket actions through the Lambda entry point."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from infra.handlers import handler
from project.chat.models import HISTORY_LENGTH, ChatMessage
from tests.events import API_ID, DOMAIN, STAGE, connect_event, message_event
from websockets_app.messaging import MAX_PAYLOAD_BYTES
from websockets_app.models import ApiGateway, WebSocketSession

pytestmark = pytest.mark.django_db

CLIENT_URL = "wss://ws.example.com"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.WEBSOCKETS = {"CLIENT_URL": CLIENT_URL}
    settings.ALLOWED_HOSTS = [DOMAIN, "testserver"]


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", password="pw")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="pw")


def say(room: str, author, text: str, minutes_ago: float = 0) -> ChatMessage:
    return ChatMessage.objects.create(
        room=room, author=author, text=text, created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


def rendered_messages(html: str) -> list[tuple[str, str, str]]:
    """(data-id, data-author, .text) of every message item on a page."""
    items = re.findall(
        r'<li data-id="(\d+)" data-author="([^"]*)">.*?<span class="text">(.*?)</span>\s*</li>', html, re.S
    )
    return [(item_id, author, text) for item_id, author, text in items]


# -- WebSocket actions ---------------------------------------------------------------------------------------------


@pytest.fixture
def api(db) -> ApiGateway:
    return ApiGateway.objects.create(api_name="site", api_id=API_ID, stage_name=STAGE, region="eu-west-1")


@pytest.fixture
def in_room(api, ada):
    """Ada's connection in room-1 (as a $connect with a token records it)."""
    return WebSocketSession.objects.create(connection_id="ada=", channel_name="room-1", user=ada, api_gateway=api)


def act(body: dict, connection_id: str = "ada=") -> dict:
    return handler(message_event(body, connection_id=connection_id), None)


def delivered(stub) -> dict[str, list[dict]]:
    return {cid: [json.loads(body) for body in bodies] for cid, bodies in stub.stub.delivered.items()}


@pytest.mark.usefixtures("keep_test_connection")
def test_send_stores_the_message_and_sends_it_to_every_connection_in_the_room_only(in_room, api, bob, management_stub):
    WebSocketSession.objects.create(connection_id="bob=", channel_name="room-1", user=bob, api_gateway=api)
    WebSocketSession.objects.create(connection_id="away=", channel_name="room-2", user=bob, api_gateway=api)
    WebSocketSession.objects.create(
        connection_id="gone=", channel_name="room-1", user=bob, api_gateway=api, connected=False
    )
    result = act({"action": "send", "text": "  hello room  "})
    assert (result["statusCode"], result["body"]) == (200, "")
    message = ChatMessage.objects.get()
    assert (message.room, message.author.username, message.text) == ("room-1", "ada", "hello room")
    expected = {
        "type": "chat.message",
        "id": message.pk,
        "room": "room-1",
        "author": "ada",
        "text": "hello room",
        "sent_at": message.created_at.isoformat(),
    }
    assert delivered(management_stub) == {"ada=": [expected], "bob=": [expected]}
    in_room.refresh_from_db()
    assert in_room.request_count == 2


@pytest.mark.usefixtures("keep_test_connection")
def test_the_room_is_the_connections_channel_whatever_the_body_says(in_room, management_stub):
    assert act({"action": "send", "text": "hi", "room": "room-2", "channel": "room-2"})["statusCode"] == 200
    assert ChatMessage.objects.get().room == "room-1"


# The session with its user and gateway, the message's INSERT, the room's connections and their gateways, the
# session's request count.
SEND_QUERIES = 5


@pytest.mark.usefixtures("keep_test_connection")
def test_send_takes_a_fixed_number_of_queries_whatever_the_room_size(
    in_room, api, bob, management_stub, django_assert_num_queries
):
    WebSocketSession.objects.bulk_create(
        WebSocketSession(connection_id=f"peer-{n}=", channel_name="room-1", user=bob, api_gateway=api)
        for n in range(20)
    )
    with django_assert_num_queries(SEND_QUERIES):
        assert act({"action": "send", "text": "to twenty-one"})["statusCode"] == 200
    assert len(management_stub.stub.delivered) == 21


@pytest.mark.usefixtures("keep_test_connection")
@pytest.mark.parametrize(
    "body",
    [
        {"action": "send"},
        {"action": "send", "text": ""},
        {"action": "send", "text": " \n\t "},
        {"action": "send", "text": "x" * 2001},
        {"action": "send", "text": 42},
        {"action": "send", "text": ["hi"]},
        {"action": "send", "text": None},
    ],
    ids=["missing", "empty", "blank", "too-long", "number", "list", "null"],
)
def test_bad_text_is_a_400_that_stores_and_sends_nothing(in_room, management_stub, body):
    result = act(body)
    assert (result["statusCode"], result["body"]) == (400, "Bad request.")
    assert not ChatMessage.objects.exists()
    assert not management_stub.stub.delivered
    in_room.refresh_from_db()
    assert in_room.request_count == 1


@pytest.mark.usefixtures("keep_test_connection")
def test_text_of_exactly_2000_characters_after_stripping_is_accepted(in_room, management_stub):
    assert act({"action": "send", "text": "  " + "é" * 2000 + "\n"})["statusCode"] == 200
    assert ChatMessage.objects.get().text == "é" * 2000


@pytest.mark.usefixtures("keep_test_connection")
@pytest.mark.parametrize("action", ["send", "history"])
def test_a_connection_without_a_channel_is_refused(api, ada, management_stub, action):
    WebSocketSession.objects.create(connection_id="ada=", channel_name="", user=ada, api_gateway=api)
    result = act({"action": action, "text": "hi"})
    assert (result["statusCode"], result["body"]) == (400, "Bad request.")
    assert not ChatMessage.objects.exists()
    assert not management_stub.stub.delivered
    assert WebSocketSession.objects.get().request_count == 1


@pytest.mark.usefixtures("keep_test_connection")
def test_an_anonymous_connection_may_not_send(api, management_stub):
    WebSocketSession.objects.create(connection_id="anon=", channel_name="room-1", api_gateway=api)
    assert act({"action": "send", "text": "hi"}, connection_id="anon=")["statusCode"] == 403
    assert not ChatMessage.objects.exists()
    assert not management_stub.stub.delivered


@pytest.mark.usefixtures("keep_test_connection")
def test_history_replies_with_the_rooms_latest_fifty_oldest_first(in_room, ada, bob, django_assert_num_queries):
    for n in range(HISTORY_LENGTH + 3):
        say("room-1", ada if n % 2 else bob, f"m{n}", minutes_ago=100 - n)
    say("room-2", bob, "elsewhere")
    with django_assert_num_queries(3):  # the session, the messages with their authors, the request count
        result = act({"action": "history"})
    assert result["statusCode"] == 200
    reply = json.loads(result["body"])
    assert (reply["type"], reply["room"]) == ("chat.history", "room-1")
    assert [m["text"] for m in reply["messages"]] == [f"m{n}" for n in range(3, HISTORY_LENGTH + 3)]
    newest = ChatMessage.objects.filter(room="room-1").latest("created_at")
    assert reply["messages"][-1] == {
        "type": "chat.message",
        "id": newest.pk,
        "room": "room-1",
        "author": newest.author.username,
        "text": newest.text,
        "sent_at": newest.created_at.isoformat(),
    }


@pytest.mark.usefixtures("keep_test_connection")
def test_history_of_an_empty_room_is_an_empty_list(in_room):
    assert json.loads(act({"action": "history"})["body"]) == {"type": "chat.history", "room": "room-1", "messages": []}


@pytest.mark.usefixtures("keep_test_connection")
def test_history_keeps_to_api_gateways_message_size_by_leaving_out_the_oldest(in_room, ada):
    for n in range(HISTORY_LENGTH):
        say("room-1", ada, f"{n:02d}" + "😀" * 1998, minutes_ago=100 - n)  # 2,000 characters, ~8 KB each
    body = act({"action": "history"})["body"]
    assert len(body.encode()) <= MAX_PAYLOAD_BYTES
    texts = [m["text"][:2] for m in json.loads(body)["messages"]]
    assert 10 < len(texts) < HISTORY_LENGTH
    assert texts == [f"{n:02d}" for n in range(HISTORY_LENGTH - len(texts), HISTORY_LENGTH)]  # the newest ones


@pytest.mark.usefixtures("keep_test_connection")
def test_ping_still_answers(in_room):
    assert json.loads(act({"action": "ping"})["body"]) == {"pong": True}


@pytest.mark.usefixtures("keep_test_connection")
def test_a_browser_connects_to_a_room_with_a_token_and_chats(api, ada, login_token, management_stub):
    token, cookie = login_token(ada)
    connected = handler(connect_event("ada=", query={"channel": "room-1", "ws_token": token}, cookie=cookie), None)
    assert connected["statusCode"] == 200
    assert act({"action": "send", "text": "hi"})["statusCode"] == 200
    assert [m["text"] for m in json.loads(act({"action": "history"})["body"])["messages"]] == ["hi"]
    assert [m["author"] for m in delivered(management_stub)["ada="]] == ["ada"]
