"""The translation of WebSocket events into the WSGI request Django sees."""

from __future__ import annotations

import pytest

from infra.websocket import InvalidWebSocketEvent, route_of, to_wsgi_event
from tests.events import DOMAIN, connect_event, disconnect_event, message_event


@pytest.mark.parametrize(
    ("route_key", "route"),
    [("$connect", "connect"), ("$disconnect", "disconnect"), ("$default", "default"), ("chat-send", "chat-send")],
)
def test_route_keys_become_the_last_path_segment(route_key, route):
    assert route_of(route_key) == route


@pytest.mark.parametrize("route_key", [None, "", "$", "a/b", "../x", "x" * 65, "chat send", 7])
def test_route_keys_that_are_not_slugs_are_refused(route_key):
    with pytest.raises(InvalidWebSocketEvent):
        route_of(route_key)


def test_connect_keeps_headers_and_query_string(settings):
    wsgi = to_wsgi_event(connect_event(query={"channel": "lobby"}, cookie="sessionid=abc"))
    assert (wsgi["httpMethod"], wsgi["path"]) == ("POST", "/ws/connect")
    assert wsgi["multiValueHeaders"]["Cookie"] == ["sessionid=abc"]
    assert wsgi["multiValueHeaders"]["Origin"] == ["https://www.example.com"]
    assert wsgi["multiValueQueryStringParameters"] == {"channel": ["lobby"]}
    assert wsgi["requestContext"]["eventType"] == "CONNECT"


def test_the_url_prefix_setting_is_honoured(settings):
    settings.WEBSOCKETS = {"URL_PREFIX": "/sockets/"}
    assert to_wsgi_event(message_event({}))["path"] == "/sockets/default"


def test_messages_get_the_api_host_and_https(settings):
    wsgi = to_wsgi_event(message_event({"a": 1}))
    assert wsgi["multiValueHeaders"] == {"Host": [DOMAIN], "X-Forwarded-Proto": ["https"]}
    assert wsgi["body"] == '{"a": 1}'


def test_single_value_headers_are_used_when_there_are_no_multi_value_ones():
    event = disconnect_event()
    del event["multiValueHeaders"]
    assert to_wsgi_event(event)["multiValueHeaders"]["Host"] == [DOMAIN]


def test_a_client_host_header_is_kept():
    event = connect_event(headers={"Host": "ws.example.com"})
    assert to_wsgi_event(event)["multiValueHeaders"]["Host"] == ["ws.example.com"]
