"""websockets_app.testing: the toolkit users test their own WebSocket views with, run against a throwaway view and
against the chat example."""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import pytest
from django.http import HttpRequest, JsonResponse

from websockets_app.messaging import broadcast, close, info, send_to_channel
from websockets_app.models import WebSocketSession, WebSocketToken
from websockets_app.testing import FakeManagementApi, WebSocketTestClient
from websockets_app.urls import websocket_path
from websockets_app.views import WebSocketView, handler

pytestmark = pytest.mark.django_db


# -- a throwaway view, mounted by this module's own URLconf --------------------------------------------------------


class CounterView(WebSocketView):
    """Counts what it is sent; anyone may connect (no token), and "shout" posts to the whole channel."""

    USE_WS_TOKEN = False

    @handler
    def count(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse({"counted": len(self.body.get("items", []))})

    @handler
    def shout(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        send_to_channel(self.websocket_session.channel_name, {"shout": self.body.get("text")})

    def default(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse({"route": self.gateway_context.route_key, "raw": request.body.decode(errors="replace")})


urlpatterns = [websocket_path(CounterView.as_view())]


@pytest.fixture
def counter_site(settings):
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def ws(counter_site):
    with WebSocketTestClient() as client:
        yield client


# -- unhappy paths first -------------------------------------------------------------------------------------------


def test_a_client_that_is_not_open_refuses_to_send_anything(counter_site):
    client = WebSocketTestClient()
    with pytest.raises(RuntimeError, match="Open the WebSocketTestClient first"):
        client.connect()
    assert not WebSocketSession.objects.exists()


def test_a_route_selection_expression_api_gateway_refuses_is_a_value_error():
    with pytest.raises(ValueError, match=r"\$request\.body\.<key>"):
        WebSocketTestClient(route_selection_expression="action")


def test_a_refused_connect_is_reported_not_raised_and_records_nothing(ws, settings):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "ALLOWED_ORIGINS": ["https://example.com"]}
    conn = ws.connect(headers={"Origin": "https://evil.example.net"})
    assert (conn.status_code, conn.accepted) == (403, False)
    assert not WebSocketSession.objects.exists()


def test_a_message_on_a_connection_the_app_never_accepted_is_refused(ws, settings):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "ALLOWED_ORIGINS": ["https://example.com"]}
    conn = ws.connect(headers={"Origin": "https://evil.example.net"})
    assert conn.send({"action": "count", "items": [1]}) is not None
    assert conn.last_status == 403


def test_a_body_that_is_no_json_object_gets_the_views_400_and_nothing_is_posted(ws):
    conn = ws.connect()
    for body in ("[1, 2", "[1, 2]", b"\xff\xfe"):
        conn.send(body)
        assert conn.last_status == 400
    assert ws.management_api.posts() == []


def test_the_fake_refuses_an_unsigned_call_as_aws_does():
    with FakeManagementApi() as api:
        request = urllib.request.Request(f"{api.url}/test/@connections/abc=", data=b"x", method="POST")  # noqa: S310
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)  # noqa: S310 (127.0.0.1)
    assert refused.value.code == 403
    assert refused.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert [(c.kind, c.signed, c.status) for c in api.calls] == [("post", False, 403)]


def test_a_message_over_api_gateways_limit_is_refused_by_the_fake(ws):
    conn = ws.connect()
    result = send_to_channel(WebSocketSession.objects.get().channel_name, {"blob": "x" * 127_000})
    assert result.sent == [conn.connection_id]  # under the limit: delivered
    big = ws.management_api
    with pytest.raises(ValueError, match="API Gateway accepts at most"):
        send_to_channel(WebSocketSession.objects.get().channel_name, {"blob": "x" * 140_000})
    assert len(big.posts(conn.connection_id)) == 1


def test_closing_the_client_restores_the_settings_and_the_aws_environment(counter_site, settings):
    before = (settings.WEBSOCKETS.get("MANAGEMENT_ENDPOINT_URL"), os.environ.get("AWS_ACCESS_KEY_ID"))
    with WebSocketTestClient() as client:
        assert settings.WEBSOCKETS["MANAGEMENT_ENDPOINT_URL"] == client.management_api.url
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert (settings.WEBSOCKETS.get("MANAGEMENT_ENDPOINT_URL"), os.environ.get("AWS_ACCESS_KEY_ID")) == before


# -- the happy paths -----------------------------------------------------------------------------------------------


def test_connect_send_and_disconnect_take_the_production_path(ws):
    conn = ws.connect(query={"channel": "room-1"})
    assert (conn.status_code, conn.accepted) == (200, True)
    session = WebSocketSession.objects.get(connection_id=conn.connection_id)
    assert (session.channel_name, session.connected, session.api_gateway.api_id) == ("room-1", True, ws.api_id)

    assert conn.send({"action": "count", "items": [1, 2, 3]}) == {"counted": 3}
    assert conn.last_status == 200

    assert conn.disconnect() == 200
    session.refresh_from_db()
    assert session.connected is False


def test_the_route_is_selected_as_api_gateway_selects_it(counter_site):
    with WebSocketTestClient(routes={"count"}, route_selection_expression="$request.body.kind") as ws:
        conn = ws.connect()
        # Only a route the API has is selected: /ws/count runs count().
        assert conn.send({"kind": "count"}) == {"counted": 0}
        # Anything else goes to $default, where the view picks the handler by the body's "action".
        assert conn.send({"kind": "nope"})["route"] == "$default"
        assert conn.send({"kind": "nope", "action": "count", "items": [1]}) == {"counted": 1}
        # An explicit route wins, as a test of a route the API does not have yet may want.
        assert conn.send({"kind": "nope"}, route="count") == {"counted": 0}
        assert ws.management_api.posts() == []


def test_posts_reach_the_connections_they_were_sent_to_in_order(ws):
    first = ws.connect(query={"channel": "room-1"})
    second = ws.connect(query={"channel": "room-1"})
    elsewhere = ws.connect(query={"channel": "room-2"})
    first.send({"action": "shout", "text": "one"})
    second.send({"action": "shout", "text": "two"})
    assert first.received == [{"shout": "one"}, {"shout": "two"}]
    assert second.received == [{"shout": "one"}, {"shout": "two"}]
    assert elsewhere.received == []
    first.clear()
    assert first.received == []
    assert second.received == [{"shout": "one"}, {"shout": "two"}]


def test_a_vanished_connection_is_marked_gone_by_the_next_send(ws):
    staying = ws.connect(query={"channel": "room-1"})
    leaving = ws.connect(query={"channel": "room-1"})
    leaving.vanish()
    result = broadcast({"news": "hi"})
    assert (result.sent, result.gone) == ([staying.connection_id], [leaving.connection_id])
    assert not WebSocketSession.objects.get(connection_id=leaving.connection_id).connected
    assert staying.received == [{"news": "hi"}]
    assert leaving.received == []


def test_close_and_info_calls_are_recorded(ws):
    conn = ws.connect()
    assert info(conn.connection_id)["Identity"] == {"SourceIp": ws.source_ip, "UserAgent": "WebSocketTestClient"}
    assert close(conn.connection_id) is True
    assert ws.management_api.closed == [conn.connection_id]
    assert [call.kind for call in ws.management_api.calls] == ["info", "close"]
    assert all(call.signed for call in ws.management_api.calls)


def test_a_user_connects_with_a_real_token_and_session_cookie(ws, django_user_model, settings):
    ada = django_user_model.objects.create_user("ada")
    settings.ROOT_URLCONF = "project.urls"  # the site's view: tokens required, bound to the session
    conn = ws.connect(user=ada, query={"channel": "lobby"})
    assert conn.accepted
    assert WebSocketSession.objects.get(connection_id=conn.connection_id).user == ada
    token = WebSocketToken.objects.get()
    assert token.used
    assert token.session_key
    assert conn.headers["Cookie"].endswith(token.session_key)


def test_a_query_that_already_carries_a_token_is_used_as_it_is(ws, django_user_model, settings):
    ada = django_user_model.objects.create_user("ada")
    settings.ROOT_URLCONF = "project.urls"
    conn = ws.connect(user=ada, query={"ws_token": "x" * 43})
    assert conn.status_code == 403  # not a token the app issued
    assert not WebSocketToken.objects.exists()


@pytest.mark.usefixtures("ws_test_views")
def test_the_query_counts_are_those_of_the_lambda_path(client, django_user_model, django_assert_num_queries):
    from tests.test_views import CONNECT_QUERIES, session_cookie

    cookie = session_cookie(client, django_user_model.objects.create_user("ada"))
    with WebSocketTestClient() as ws:
        ws.connect()  # the first event registers the API's row, as on a fresh deployment
        with django_assert_num_queries(CONNECT_QUERIES):
            conn = ws.connect(headers={"Cookie": cookie})
        assert conn.accepted
        with django_assert_num_queries(2):  # the session (with user and gateway), the request count
            assert conn.send({"text": "hi"})["user"] == "ada"
        with django_assert_num_queries(1):  # one UPDATE
            assert conn.disconnect() == 200


def test_the_pytest_fixtures(ws_client, ws_management_api, counter_site):
    conn = ws_client.connect()
    conn.send({"action": "shout", "text": "fixture"})
    assert ws_management_api is ws_client.management_api
    assert [json.loads(call.data) for call in ws_management_api.posts()] == [{"shout": "fixture"}]


# -- the example in docs/testing.md, run as written -----------------------------------------------------------------


def test_two_people_chat_and_a_vanished_connection_is_marked_gone(ws_client, django_user_model):
    ada = django_user_model.objects.create_user("ada")
    bob = django_user_model.objects.create_user("bob")
    ada_conn = ws_client.connect(user=ada, query={"channel": "lobby"})
    bob_conn = ws_client.connect(user=bob, query={"channel": "lobby"})
    assert ada_conn.accepted
    assert bob_conn.accepted

    ada_conn.send({"action": "send", "text": "Hello, Bob"})
    assert ada_conn.last_status == 200
    [envelope] = bob_conn.received  # the chat numbers its messages, so that a reconnect can resume
    message = envelope["data"]
    assert (message["type"], message["author"], message["text"]) == ("chat.message", "ada", "Hello, Bob")

    bob_conn.vanish()  # Bob's phone loses its signal: no $disconnect reaches the app
    result = broadcast({"type": "notice", "text": "Maintenance at noon"})
    assert result.gone == [bob_conn.connection_id]
    assert WebSocketSession.objects.get(connection_id=bob_conn.connection_id).connected is False
    assert ada_conn.received[-1] == {"type": "notice", "text": "Maintenance at noon"}


def test_the_docs_show_the_example_test_as_it_runs():
    import inspect
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "testing.md").read_text()
    source = inspect.getsource(test_two_people_chat_and_a_vanished_connection_is_marked_gone)
    assert source in docs
