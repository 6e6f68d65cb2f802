"""Presence: who is connected to a channel, join and leave notices, the stale sweep's leaves, the admin's view."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from project.wsgi import application
from tests.events import API_ID, DOMAIN, STAGE, connect_event, disconnect_event, message_event
from websockets_app.aws_lambda import make_websocket_handler
from websockets_app.models import ApiGateway, WebSocketSession
from websockets_app.presence import PresentUser, present_in

# The app's own Lambda handler, as any project builds it (infra.handlers adds only wiring around it).
handler = make_websocket_handler(application)

pytestmark = pytest.mark.django_db

ROOM = "room-1"


@pytest.fixture(autouse=True)
def _hosts(settings):
    settings.ALLOWED_HOSTS = [DOMAIN, "testserver"]


@pytest.fixture
def api(db) -> ApiGateway:
    return ApiGateway.objects.create(api_name="site", api_id=API_ID, stage_name=STAGE, region="eu-west-1")


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", password="pw")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="pw")


def connected(api: ApiGateway, connection_id: str, user=None, channel: str = ROOM, **fields) -> WebSocketSession:
    return WebSocketSession.objects.create(
        connection_id=connection_id, channel_name=channel, user=user, api_gateway=api, **fields
    )


def posts(stub, connection_id: str) -> list[dict]:
    return [json.loads(body) for body in stub.stub.delivered.get(connection_id, [])]


def notice(event: str, user) -> dict:
    return {"type": "presence", "event": event, "channel": ROOM, "user": {"id": user.pk, "name": user.username}}


# -- present_in ----------------------------------------------------------------------------------------------------


def test_present_in_lists_each_user_once_and_counts_anonymous_connections_in_one_query(
    api, ada, bob, django_assert_num_queries
):
    connected(api, "ada-1=", ada)
    connected(api, "ada-2=", ada)  # a second tab
    connected(api, "bob=", bob)
    connected(api, "anon-1=")
    connected(api, "anon-2=")
    connected(api, "gone=", bob, connected=False)
    connected(api, "elsewhere=", ada, channel="room-2")
    connected(api, "anon-elsewhere=", channel="room-2")
    with django_assert_num_queries(1):
        presence = present_in(ROOM)
    assert presence.users == [PresentUser(ada.pk, "ada"), PresentUser(bob.pk, "bob")]
    assert presence.anonymous == 2
    assert presence.snapshot() == {
        "type": "presence",
        "event": "snapshot",
        "channel": ROOM,
        "users": [{"id": ada.pk, "name": "ada"}, {"id": bob.pk, "name": "bob"}],
        "anonymous": 2,
    }


def test_an_empty_channel_has_nobody(db):
    assert present_in("nobody-here").snapshot()["users"] == []
    assert present_in("nobody-here").anonymous == 0


@pytest.mark.usefixtures("keep_test_connection")
def test_the_presence_action_answers_with_a_snapshot_in_three_queries(api, ada, bob, django_assert_num_queries):
    connected(api, "ada=", ada)
    connected(api, "bob=", bob)
    # The session with its user and gateway, the message count, the presence.
    with django_assert_num_queries(3):
        answer = handler(message_event({"action": "presence"}, connection_id="ada="), None)
    assert answer["statusCode"] == 200
    assert [user["name"] for user in json.loads(answer["body"])["users"]] == ["ada", "bob"]


@pytest.mark.usefixtures("keep_test_connection")
def test_the_presence_action_needs_a_channel(api, ada):
    connected(api, "ada=", ada, channel="")
    assert handler(message_event({"action": "presence"}, connection_id="ada="), None)["statusCode"] == 400


# -- join and leave ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("keep_test_connection")
def test_join_and_leave_are_announced_only_for_a_users_first_and_last_connection(
    api, ada, bob, login_token, management_stub
):
    connected(api, "bob=", bob)

    def open_tab(connection_id: str) -> None:
        token, cookie = login_token(ada)
        event = connect_event(connection_id, query={"channel": ROOM, "ws_token": token}, cookie=cookie)
        assert handler(event, None)["statusCode"] == 200

    def close_tab(connection_id: str) -> None:
        assert handler(disconnect_event(connection_id), None)["statusCode"] == 200

    open_tab("ada-1=")
    assert posts(management_stub, "bob=") == [notice("join", ada)]
    assert "ada-1=" not in management_stub.stub.delivered  # nothing can be posted to a connection in its $connect
    open_tab("ada-2=")  # a second tab: ada is already there
    close_tab("ada-1=")  # one tab left open
    assert posts(management_stub, "bob=") == [notice("join", ada)]
    assert "ada-2=" not in management_stub.stub.delivered
    close_tab("ada-2=")
    assert posts(management_stub, "bob=") == [notice("join", ada), notice("leave", ada)]


@pytest.mark.usefixtures("keep_test_connection")
def test_anonymous_connections_are_counted_but_not_announced(api, bob, management_stub):
    connected(api, "bob=", bob)
    connected(api, "anon=")
    assert handler(disconnect_event("anon="), None)["statusCode"] == 200
    assert not management_stub.stub.delivered
    assert present_in(ROOM).anonymous == 0


@pytest.mark.usefixtures("keep_test_connection")
def test_a_disconnect_of_an_unknown_connection_is_still_a_404(api, management_stub):
    assert handler(disconnect_event("nobody="), None)["statusCode"] == 404
    assert not management_stub.stub.delivered


# -- the stale sweep ---------------------------------------------------------------------------------------------------


def test_the_stale_sweep_announces_the_users_it_finds_gone(api, ada, bob, settings, management_stub, capsys):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "PRESENCE_SWEEP_NOTICES": True}
    long_ago = timezone.now() - timedelta(hours=3)
    connected(api, "ada-stale=", ada)
    connected(api, "bob-stale=", bob)
    connected(api, "bob-fresh=", bob)  # bob is still here through another connection
    connected(api, "watcher=")
    WebSocketSession.objects.filter(connection_id__endswith="-stale=").update(created_on=long_ago)
    call_command("markStaleWebSocketSessions")
    output = capsys.readouterr().out
    assert "Marked 2 stale WebSocket session(s)" in output
    assert "Sent 1 presence leave notice(s)." in output
    assert posts(management_stub, "watcher=") == [notice("leave", ada)]
    assert posts(management_stub, "bob-fresh=") == [notice("leave", ada)]
    assert "ada-stale=" not in management_stub.stub.delivered


def test_the_stale_sweep_sends_no_notices_unless_asked(api, ada, management_stub, capsys):
    connected(api, "ada-stale=", ada)
    connected(api, "watcher=")
    WebSocketSession.objects.filter(connection_id="ada-stale=").update(created_on=timezone.now() - timedelta(hours=3))
    call_command("markStaleWebSocketSessions")
    assert "Marked 1 stale" in capsys.readouterr().out
    assert not management_stub.stub.delivered


# -- the admin ---------------------------------------------------------------------------------------------------------


def test_the_admin_shows_who_is_connected_to_the_selected_sessions_channels(admin_client, api, ada, bob):
    one = connected(api, "ada=", ada)
    connected(api, "bob=", bob)
    connected(api, "anon=")
    other = connected(api, "elsewhere=", bob, channel="room-2")
    response = admin_client.post(
        reverse("admin:websockets_app_websocketsession_changelist"),
        {"action": "show_presence", "_selected_action": [one.pk, other.pk]},
        follow=True,
    )
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "room-1: ada, bob; 1 anonymous connection(s).",
        "room-2: bob; 0 anonymous connection(s).",
    ]
    assert WebSocketSession.objects.connected().count() == 4  # read-only
