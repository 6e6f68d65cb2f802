"""The chat example: its pages through the test client, its WebSocket actions through the Lambda entry point."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from project.chat.models import HISTORY_LENGTH, ChatMessage
from tests.events import API_ID, DOMAIN, STAGE, connect_event, message_event
from websockets_app.aws_lambda.wsgi import LambdaHandler
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


# -- pages ---------------------------------------------------------------------------------------------------------


def test_the_chat_index_leads_to_the_lobby(client):
    response = client.get("/chat/")
    assert (response.status_code, response["Location"]) == (302, "/chat/lobby/")


def test_a_room_needs_a_signed_in_user(client):
    response = client.get("/chat/lobby/")
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/chat/lobby/")


def test_a_room_renders_its_latest_messages_oldest_first_and_only_its_own(client, ada, bob):
    say("lobby", ada, "first", minutes_ago=3)
    say("lobby", bob, "second", minutes_ago=2)
    say("elsewhere", bob, "not here", minutes_ago=1)
    say("lobby", ada, "third")
    client.force_login(ada)
    response = client.get("/chat/lobby/")
    assert response.status_code == 200
    html = response.content.decode()
    ids = list(ChatMessage.objects.filter(room="lobby").order_by("created_at").values_list("id", flat=True))
    assert rendered_messages(html) == [
        (str(ids[0]), "ada", "first"),
        (str(ids[1]), "bob", "second"),
        (str(ids[2]), "ada", "third"),
    ]


def test_a_room_shows_only_the_latest_fifty(client, ada):
    for n in range(HISTORY_LENGTH + 5):
        say("lobby", ada, f"message {n}", minutes_ago=HISTORY_LENGTH + 5 - n)
    client.force_login(ada)
    texts = [text for _, _, text in rendered_messages(client.get("/chat/lobby/").content.decode())]
    assert texts == [f"message {n}" for n in range(5, HISTORY_LENGTH + 5)]


def test_message_text_and_author_names_are_escaped(client, django_user_model):
    mallory = django_user_model.objects.create_user('m"<b>', password="pw")
    say("lobby", mallory, "<script>alert(1)</script>")
    client.force_login(mallory)
    html = client.get("/chat/lobby/").content.decode()
    assert "<script>alert(1)" not in html
    [(_, author, text)] = rendered_messages(html)
    assert (author, text) == ("m&quot;&lt;b&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;")


def test_a_room_page_takes_a_fixed_number_of_queries(client, ada, django_assert_num_queries):
    for n in range(10):
        say("lobby", ada, f"m{n}")
    client.force_login(ada)
    # The session, the user, the room's last sequence number, the messages with their authors.
    with django_assert_num_queries(4):
        assert client.get("/chat/lobby/").status_code == 200


def test_the_room_page_keeps_the_dom_its_script_and_browser_tests_use(client, ada):
    client.force_login(ada)
    response = client.get("/chat/room-7/")
    html = response.content.decode()
    assert '<span id="chat-room">room-7</span>' in html
    assert re.search(r'id="chat-status" data-state="connecting"', html)
    assert re.search(r'<ol id="chat-messages"', html)
    for element in ('<form id="chat-form"', 'id="chat-input"', '<form id="room-form"', 'id="room-input"'):
        assert element in html
    assert "/static/websockets_app/ws-client.js" in html
    assert '<script type="module" src="/static/chat/chat.js">' in html
    [config] = re.findall(r'<script id="websocket-config" type="application/json">(.*?)</script>', html)
    assert json.loads(config) == {"url": CLIENT_URL, "channel": "room-7", "tokenUrl": "/api/ws-token/", "since": 0}
    assert response.cookies["csrftoken"].value  # the client's token requests carry it


@pytest.mark.parametrize("room", ["has%20space", "a%3Cb", "x" * 129, "semi;colon"])
def test_a_room_that_is_no_channel_name_is_a_404(client, ada, room):
    client.force_login(ada)
    assert client.get(f"/chat/{room}/").status_code == 404


def test_the_static_scripts_are_served(client):
    for path in ("/static/websockets_app/ws-client.js", "/static/chat/chat.js", "/static/chat/chat.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content)


def test_the_login_page_has_the_fields_browsers_fill_in(client, ada):
    html = client.get("/accounts/login/?next=/chat/room-7/").content.decode()
    assert 'id="id_username"' in html
    assert 'id="id_password"' in html
    assert '<button type="submit">' in html
    response = client.post("/accounts/login/", {"username": "ada", "password": "pw", "next": "/chat/room-7/"})
    assert (response.status_code, response["Location"]) == (302, "/chat/room-7/")


def test_signing_in_without_a_next_page_leads_to_the_chat(client, ada):
    response = client.post("/accounts/login/", {"username": "ada", "password": "pw"})
    assert response["Location"] == "/chat/"


def test_signing_up_creates_the_user_signs_them_in_and_opens_the_chat(client, django_user_model):
    assert 'id="id_password2"' in client.get("/accounts/signup/").content.decode()
    response = client.post(
        "/accounts/signup/", {"username": "grace", "password1": "a-long-pass-42", "password2": "a-long-pass-42"}
    )
    assert (response.status_code, response["Location"]) == (302, "/chat/")
    user = django_user_model.objects.get(username="grace")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get("/chat/lobby/").status_code == 200


@pytest.mark.parametrize(
    ("next_page", "location"), [("/chat/room-7/", "/chat/room-7/"), ("https://evil.example/", "/chat/")]
)
def test_signing_up_follows_a_next_page_on_this_site_only(client, next_page, location):
    data = {"username": "grace", "password1": "a-long-pass-42", "password2": "a-long-pass-42", "next": next_page}
    assert client.post("/accounts/signup/", data)["Location"] == location


def test_a_bad_sign_up_shows_the_errors_and_creates_nobody(client, django_user_model):
    response = client.post("/accounts/signup/", {"username": "grace", "password1": "a-long-pass-42", "password2": "x"})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not django_user_model.objects.filter(username="grace").exists()
    assert "_auth_user_id" not in client.session


def test_the_home_page_links_to_the_chat(client):
    html = client.get("/").content.decode()
    assert 'href="/chat/"' in html
    assert 'href="/accounts/signup/"' in html


# -- WebSocket actions ---------------------------------------------------------------------------------------------


@pytest.fixture
def api(db) -> ApiGateway:
    return ApiGateway.objects.create(api_name="site", api_id=API_ID, stage_name=STAGE, region="eu-west-1")


@pytest.fixture
def in_room(api, ada):
    """Ada's connection in room-1 (as a $connect with a token records it)."""
    return WebSocketSession.objects.create(connection_id="ada=", channel_name="room-1", user=ada, api_gateway=api)


@pytest.fixture
def act(websocket_handler: LambdaHandler) -> Callable[..., Any]:
    """A chat action from a connection, through the app's Lambda handler: the result."""

    def act(body: dict, connection_id: str = "ada=") -> dict:
        return websocket_handler(message_event(body, connection_id=connection_id), None)

    return act


def delivered(stub) -> dict[str, list[dict]]:
    return {cid: [json.loads(body) for body in bodies] for cid, bodies in stub.stub.delivered.items()}


def delivered_data(stub) -> dict[str, list[dict]]:
    """What each connection received, out of the replayable envelopes chat messages come in."""
    return {cid: [envelope["data"] for envelope in envelopes] for cid, envelopes in delivered(stub).items()}


def test_send_stores_the_message_and_sends_it_to_every_connection_in_the_room_only(ws_client, ada, bob):
    ada_conn = ws_client.connect(user=ada, query={"channel": "room-1"})
    bob_conn = ws_client.connect(user=bob, query={"channel": "room-1"})
    elsewhere = ws_client.connect(user=bob, query={"channel": "room-2"})
    closed = ws_client.connect(user=bob, query={"channel": "room-1"})
    closed.disconnect()
    ws_client.management_api.clear()  # the presence notices of those connects and that disconnect

    assert ada_conn.send({"action": "send", "text": "  hello room  "}) is None
    assert ada_conn.last_status == 200
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
    [envelope] = ada_conn.received
    assert (envelope["seq"], envelope["channel"], envelope["data"]) == (1, "room-1", expected)
    assert bob_conn.received == [envelope]
    assert (elsewhere.received, closed.received) == ([], [])
    assert ws_client.management_api.posts(closed.connection_id) == []  # a closed row is not even tried
    assert WebSocketSession.objects.get(connection_id=ada_conn.connection_id).request_count == 2


@pytest.mark.usefixtures("keep_test_connection")
def test_the_room_is_the_connections_channel_whatever_the_body_says(in_room, management_stub, act):
    assert act({"action": "send", "text": "hi", "room": "room-2", "channel": "room-2"})["statusCode"] == 200
    assert ChatMessage.objects.get().room == "room-1"


# The session with its user and gateway, the message's INSERT, its sequence number and history row (one statement
# on PostgreSQL, two in one transaction on SQLite), the room's connections and their gateways, the session's
# request count.
def send_queries() -> int:
    from django.db import connection

    return 6 if connection.vendor == "postgresql" else 7


@pytest.mark.usefixtures("keep_test_connection")
def test_send_takes_a_fixed_number_of_queries_whatever_the_room_size(
    in_room, api, bob, management_stub, django_assert_num_queries, act
):
    WebSocketSession.objects.bulk_create(
        WebSocketSession(connection_id=f"peer-{n}=", channel_name="room-1", user=bob, api_gateway=api)
        for n in range(20)
    )
    with django_assert_num_queries(send_queries()):
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
def test_bad_text_is_a_400_that_stores_and_sends_nothing(in_room, management_stub, body, act):
    result = act(body)
    assert (result["statusCode"], result["body"]) == (400, "Bad request.")
    assert not ChatMessage.objects.exists()
    assert not management_stub.stub.delivered
    in_room.refresh_from_db()
    assert in_room.request_count == 1


@pytest.mark.usefixtures("keep_test_connection")
def test_text_of_exactly_2000_characters_after_stripping_is_accepted(in_room, management_stub, act):
    assert act({"action": "send", "text": "  " + "é" * 2000 + "\n"})["statusCode"] == 200
    assert ChatMessage.objects.get().text == "é" * 2000


@pytest.mark.usefixtures("keep_test_connection")
@pytest.mark.parametrize("action", ["send", "history"])
def test_a_connection_without_a_channel_is_refused(api, ada, management_stub, action, act):
    WebSocketSession.objects.create(connection_id="ada=", channel_name="", user=ada, api_gateway=api)
    result = act({"action": action, "text": "hi"})
    assert (result["statusCode"], result["body"]) == (400, "Bad request.")
    assert not ChatMessage.objects.exists()
    assert not management_stub.stub.delivered
    assert WebSocketSession.objects.get().request_count == 1


@pytest.mark.usefixtures("keep_test_connection")
def test_an_anonymous_connection_may_not_send(api, management_stub, act):
    WebSocketSession.objects.create(connection_id="anon=", channel_name="room-1", api_gateway=api)
    assert act({"action": "send", "text": "hi"}, connection_id="anon=")["statusCode"] == 403
    assert not ChatMessage.objects.exists()
    assert not management_stub.stub.delivered


@pytest.mark.usefixtures("keep_test_connection")
def test_history_replies_with_the_rooms_latest_fifty_oldest_first(in_room, ada, bob, django_assert_num_queries, act):
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
def test_history_of_an_empty_room_is_an_empty_list(in_room, act):
    assert json.loads(act({"action": "history"})["body"]) == {"type": "chat.history", "room": "room-1", "messages": []}


@pytest.mark.usefixtures("keep_test_connection")
def test_history_keeps_to_api_gateways_message_size_by_leaving_out_the_oldest(in_room, ada, act):
    for n in range(HISTORY_LENGTH):
        say("room-1", ada, f"{n:02d}" + "😀" * 1998, minutes_ago=100 - n)  # 2,000 characters, ~8 KB each
    body = act({"action": "history"})["body"]
    assert len(body.encode()) <= MAX_PAYLOAD_BYTES
    texts = [m["text"][:2] for m in json.loads(body)["messages"]]
    assert 10 < len(texts) < HISTORY_LENGTH
    assert texts == [f"{n:02d}" for n in range(HISTORY_LENGTH - len(texts), HISTORY_LENGTH)]  # the newest ones


@pytest.mark.usefixtures("keep_test_connection")
def test_ping_still_answers(in_room, act):
    assert json.loads(act({"action": "ping"})["body"]) == {"pong": True}


@pytest.mark.usefixtures("keep_test_connection")
def test_a_browser_connects_to_a_room_with_a_token_and_chats(
    api, ada, login_token, management_stub, act, websocket_handler
):
    token, cookie = login_token(ada)
    connected = websocket_handler(
        connect_event("ada=", query={"channel": "room-1", "ws_token": token}, cookie=cookie), None
    )
    assert connected["statusCode"] == 200
    assert act({"action": "send", "text": "hi"})["statusCode"] == 200
    assert [m["text"] for m in json.loads(act({"action": "history"})["body"])["messages"]] == ["hi"]
    assert [m["author"] for m in delivered_data(management_stub)["ada="]] == ["ada"]
