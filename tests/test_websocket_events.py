"""The translation of WebSocket events into the WSGI request Django sees."""

from __future__ import annotations

import pytest

from tests.events import DOMAIN, connect_event, disconnect_event, message_event
from websockets_app.aws_lambda.wsgi import InvalidWebSocketEvent, route_of, to_wsgi_event


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


def test_an_empty_list_of_header_values_is_no_header():
    event = connect_event()
    event["multiValueHeaders"]["Host"] = []
    event["multiValueHeaders"]["X-Empty"] = []
    headers = to_wsgi_event(event)["multiValueHeaders"]
    assert "X-Empty" not in headers
    assert headers["Host"] == [DOMAIN]  # from the request context, as for an event without headers


@pytest.mark.parametrize(
    "event",
    [
        connect_event(headers={"X-Odd": "\ud800"}),
        connect_event(headers={"\udcff": "x"}),
        connect_event(query={"channel": "\ud800"}),
    ],
    ids=["header-value", "header-name", "query-value"],
)
def test_headers_and_query_strings_with_lone_surrogates_are_refused(event):
    with pytest.raises(InvalidWebSocketEvent, match="not valid text"):
        to_wsgi_event(event)


@pytest.mark.parametrize("body", ["\u00ff\u00ff==", "\u20ac", "%%%"])
def test_a_base64_body_that_is_not_base64_is_refused(body):
    event = message_event(raw=body)
    event["isBase64Encoded"] = True
    with pytest.raises(InvalidWebSocketEvent, match="cannot be decoded"):
        to_wsgi_event(event)
