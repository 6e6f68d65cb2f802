"""The local gateway, driven by a real WebSocket client (the ``websockets`` library) against the project's handlers.

Each test starts a gateway on free ports; the Lambda handlers run in-process on the test database, so these
tests need real transactions (the handlers run on worker threads with their own connections).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.local_gateway import gateway_for_tests
from websockets_app.models import WebSocketSession

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gateway_settings(settings, ws_test_views, aws_credentials):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "testserver"]
    return settings


@pytest.fixture
def running(gateway_settings):
    with gateway_for_tests(gateway_settings, routes=frozenset({"echo"})) as running:
        yield running


def _url(running, query: str = "") -> str:
    return f"{running.gateway.ws_url}/{query}"


def _management(running, method: str, connection_id: str, data: bytes | None = None):
    request = urllib.request.Request(
        f"http://127.0.0.1:{running.gateway.ws_port}/@connections/{quote(connection_id, safe='')}",
        data=data,
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (127.0.0.1 only)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _session():
    return _wait_for(lambda: WebSocketSession.objects.first())


# -- connect ---------------------------------------------------------------------------------------------------


def test_connect_sends_headers_and_query_string_and_keeps_the_connection(running):
    with connect(_url(running, "?channel=lobby"), additional_headers={"Origin": "http://127.0.0.1:8000"}) as client:
        session = _session()
        [event] = running.gateway.invoker.of_type("CONNECT")
        context = event["requestContext"]
        assert (context["routeKey"], context["connectionId"]) == ("$connect", session.connection_id)
        assert (context["apiId"], context["stage"], context["identity"]["sourceIp"]) == ("local", "local", "127.0.0.1")
        assert event["queryStringParameters"] == {"channel": "lobby"}
        assert event["headers"]["Origin"] == "http://127.0.0.1:8000"
        assert "Sec-WebSocket-Key" in event["headers"]
        assert (session.channel_name, session.connected) == ("lobby", True)
        assert session.api_gateway.api_id == "local"
        client.send(json.dumps({"action": "echo", "text": "hi"}))
        assert json.loads(client.recv(timeout=10))["channel"] == "lobby"
    assert len(running.gateway.connections) == 0 or _wait_for(lambda: not running.gateway.connections)


def test_connection_ids_look_like_api_gateways(running):
    with connect(_url(running)), connect(_url(running)):
        ids = _wait_for(lambda: list(running.gateway.connections) if len(running.gateway.connections) == 2 else None)
    assert ids[0] != ids[1]
    assert all(len(connection_id) == 16 and connection_id.endswith("=") for connection_id in ids)


def test_a_refused_connect_fails_the_handshake_with_the_lambda_status(gateway_settings):
    gateway_settings.WEBSOCKETS = {"URL_PREFIX": "/ticket/"}
    with gateway_for_tests(gateway_settings) as running:
        with pytest.raises(InvalidStatus) as refused:
            connect(_url(running, "?ticket=no"))
        assert refused.value.response.status_code == 401
        assert not running.gateway.connections
        with connect(_url(running, "?ticket=ok")):
            assert _session().connected
    assert WebSocketSession.objects.count() == 1


def test_a_connect_from_a_foreign_origin_is_refused(gateway_settings):
    gateway_settings.WEBSOCKETS = {"ALLOWED_ORIGINS": ["http://127.0.0.1:8000"]}
    with gateway_for_tests(gateway_settings) as running:
        with pytest.raises(InvalidStatus) as refused:
            connect(_url(running), additional_headers={"Origin": "https://evil.example"})
        assert refused.value.response.status_code == 403
    assert not WebSocketSession.objects.exists()


# -- routing ---------------------------------------------------------------------------------------------------


def test_messages_are_routed_by_their_action_when_the_route_exists(running):
    with connect(_url(running)) as client:
        client.send(json.dumps({"action": "echo", "n": 1}))  # a custom route
        assert json.loads(client.recv(timeout=10))["handler"] == "echo"
        client.send(json.dumps({"action": "chat"}))  # no such route: $default, where the view picks `chat`
        assert json.loads(client.recv(timeout=10))["handler"] == "chat"
        client.send(json.dumps({"text": "no action"}))
        assert json.loads(client.recv(timeout=10))["handler"] == "default"
        client.send("not json")
        assert client.recv(timeout=10) == "Bad request."
    routes = [event["requestContext"]["routeKey"] for event in running.gateway.invoker.of_type("MESSAGE")]
    assert routes == ["echo", "$default", "$default", "$default"]
    assert _session().request_count == 4  # $connect and three accepted messages


def test_the_route_selection_expression_can_name_a_nested_key(gateway_settings):
    with gateway_for_tests(
        gateway_settings, routes=frozenset({"echo"}), route_selection_expression="$request.body.meta.route"
    ) as running:
        with connect(_url(running)) as client:
            client.send(json.dumps({"meta": {"route": "echo"}}))
            client.recv(timeout=10)
            client.send(json.dumps({"action": "echo"}))
            client.recv(timeout=10)
        routes = [event["requestContext"]["routeKey"] for event in running.gateway.invoker.of_type("MESSAGE")]
    assert routes == ["echo", "$default"]


def test_binary_frames_reach_default_base64_encoded(running):
    with connect(_url(running)) as client:
        client.send(json.dumps({"action": "echo"}).encode())
        client.recv(timeout=10)
    [event] = running.gateway.invoker.of_type("MESSAGE")
    assert event["requestContext"]["routeKey"] == "$default"
    assert event["isBase64Encoded"] is True


# -- the Management API ------------------------------------------------------------------------------------------


def test_the_app_replies_through_the_management_api(running):
    with connect(_url(running)) as client:
        client.send(json.dumps({"action": "reply", "text": "pong"}))
        assert json.loads(client.recv(timeout=10)) == {"reply": "pong"}


def test_post_get_and_delete_on_a_connection(running):
    with connect(_url(running), user_agent_header="test-agent/1") as client:
        connection_id = _session().connection_id
        status, _, _ = _management(running, "POST", connection_id, b'{"hello": "browser"}')
        assert status == 200
        assert json.loads(client.recv(timeout=10)) == {"hello": "browser"}

        status, _, body = _management(running, "GET", connection_id)
        described = json.loads(body)
        assert status == 200
        assert described["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "test-agent/1"}
        assert described["connectedAt"].endswith("Z")
        assert described["lastActiveAt"].endswith("Z")

        status, _, _ = _management(running, "DELETE", connection_id)
        assert status == 204
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=10)
    _wait_for(lambda: not WebSocketSession.objects.get().connected)
    [disconnect] = running.gateway.invoker.of_type("DISCONNECT")
    assert disconnect["requestContext"]["connectionId"] == connection_id


@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
def test_unknown_connections_are_gone(running, method):
    status, headers, body = _management(running, method, "L0SM9cOFvHcCIhw=", b"x" if method == "POST" else None)
    assert status == 410
    assert headers["x-amzn-ErrorType"] == "GoneException"
    assert "not open" in json.loads(body)["message"]


def test_boto3_sees_gone_exception_and_the_app_marks_the_connection_closed(running, make_session):
    import boto3

    client = boto3.client(
        "apigatewaymanagementapi", endpoint_url=f"http://127.0.0.1:{running.gateway.ws_port}", region_name="us-east-1"
    )
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="L0SM9cOFvHcCIhw=", Data=b"x")

    from websockets_app.messaging import close, info

    with connect(_url(running)) as ws:
        session = _session()
        described = info(session)
        assert described["Identity"]["SourceIp"] == "127.0.0.1"
        assert described["ConnectedAt"] <= described["LastActiveAt"]
        assert close(session) is True
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert info(session) is None


def test_a_post_over_128_kb_is_refused(running):
    with connect(_url(running)) as client:
        connection_id = _session().connection_id
        status, headers, _ = _management(running, "POST", connection_id, b"x" * (128 * 1024 + 1))
        assert (status, headers["x-amzn-ErrorType"]) == (413, "PayloadTooLargeException")
        assert _management(running, "POST", connection_id, b"y" * (128 * 1024))[0] == 200
        assert len(client.recv(timeout=10)) == 128 * 1024


# -- limits ------------------------------------------------------------------------------------------------------


def _close_code_after_sending(running, message) -> int | None:
    """Send ``message`` and return the code the gateway closed the connection with (None: no close frame came)."""
    try:
        with connect(_url(running), max_size=None) as client:
            client.send(message)
            client.recv(timeout=10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    raise AssertionError("the gateway kept the connection open")


def test_a_message_over_128_kb_closes_the_connection_with_1009(running):
    fragments = ["x" * (32 * 1024)] * 4 + ["y"]  # frames within the 32 KB limit, 128 KB + 1 in all
    # The gateway fails the connection (its close frame, then the socket closed) while the client may still be
    # writing its last fragment: the reset can then reach the client before the close frame, which is lost (None).
    # The code the gateway closed with is also the DISCONNECT event's, asserted below.
    assert _close_code_after_sending(running, iter(fragments)) in (1009, None)
    assert not running.gateway.invoker.of_type("MESSAGE")
    [event] = _wait_for(lambda: running.gateway.invoker.of_type("DISCONNECT"))
    assert event["requestContext"]["disconnectStatusCode"] == 1009


def test_a_frame_over_32_kb_closes_the_connection_with_1009(running):
    # One frame of 32 KB and a little more.
    assert _close_code_after_sending(running, json.dumps({"action": "echo", "pad": "x" * (32 * 1024)})) == 1009
    assert not running.gateway.invoker.of_type("MESSAGE")


def test_a_large_message_in_32_kb_frames_is_delivered(running):
    body = json.dumps({"action": "echo", "pad": "x" * (100 * 1024)})
    with connect(_url(running), max_size=None) as client:
        client.send(iter([body[i : i + 32 * 1024] for i in range(0, len(body), 32 * 1024)]))
        assert len(json.loads(client.recv(timeout=10))["body"]["pad"]) == 100 * 1024


def test_an_idle_connection_is_closed_with_going_away(gateway_settings):
    with gateway_for_tests(gateway_settings, idle_timeout=0.5) as running, connect(_url(running)) as client:
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=10)
        assert closed.value.rcvd.code == 1001
        [event] = _wait_for(lambda: running.gateway.invoker.of_type("DISCONNECT"))
        assert event["requestContext"]["disconnectStatusCode"] == 1001
        assert "idle" in event["requestContext"]["disconnectReason"]


def _code_when_closed_while_chatting(client) -> int:
    """Send a message every 0.2 s (well within the idle timeout) until the gateway closes the connection."""
    try:
        while True:
            client.send(json.dumps({"action": "echo"}))
            client.recv(timeout=10)
            time.sleep(0.2)
    except ConnectionClosed as closed:
        return closed.rcvd.code


def test_messages_keep_a_connection_alive_until_its_maximum_age(gateway_settings):
    with gateway_for_tests(gateway_settings, idle_timeout=0.6, max_connection_seconds=1.5) as running:
        started = time.monotonic()  # before the handshake: the connection's age counts from within it
        with connect(_url(running)) as client:
            code = _code_when_closed_while_chatting(client)
        assert 1.4 < time.monotonic() - started < 5
        assert code == 1001
        [event] = _wait_for(lambda: running.gateway.invoker.of_type("DISCONNECT"))
        assert "connection limit" in event["requestContext"]["disconnectReason"]


# -- disconnect ----------------------------------------------------------------------------------------------------


def test_a_client_close_sends_disconnect_with_its_code(running):
    with connect(_url(running)) as client:
        connection_id = _session().connection_id
        client.close(code=4000, reason="bye")
    [event] = _wait_for(lambda: running.gateway.invoker.of_type("DISCONNECT"))
    context = event["requestContext"]
    assert (context["connectionId"], context["routeKey"], context["disconnectStatusCode"]) == (
        connection_id,
        "$disconnect",
        4000,
    )
    _wait_for(lambda: not WebSocketSession.objects.get().connected)


def test_a_lost_disconnect_leaves_the_row_until_a_send_finds_the_connection_gone(running):
    from websockets_app.messaging import send_to_channel

    with connect(_url(running, "?channel=room")) as stays:
        stays_id = _session().connection_id
        with connect(_url(running, "?channel=room")) as lost:
            lost_id = _wait_for(lambda: WebSocketSession.objects.exclude(connection_id=stays_id).first()).connection_id
            assert running.run(running.gateway.drop(lost_id, send_disconnect=False))
            with pytest.raises(ConnectionClosed):
                lost.recv(timeout=10)
        assert WebSocketSession.objects.get(connection_id=lost_id).connected  # nobody told the app

        result = send_to_channel("room", {"hello": "room"})
        assert json.loads(stays.recv(timeout=10)) == {"hello": "room"}
    assert (list(result.sent), list(result.gone)) == ([stays_id], [lost_id])
    assert not WebSocketSession.objects.get(connection_id=lost_id).connected
    disconnected = [event["requestContext"]["connectionId"] for event in running.gateway.invoker.of_type("DISCONNECT")]
    assert lost_id not in disconnected


# -- the HTTP API --------------------------------------------------------------------------------------------------


def _http(running, path: str, *, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    url = f"{running.gateway.http_url}{path}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (127.0.0.1 only)
        return response.status, response.headers, response.read()


def test_the_http_api_runs_django_through_the_http_handler(running):
    status, headers, body = _http(
        running, "/echo/?a=1&a=2&b=%C3%A9", method="POST", data=b"payload", headers={"Cookie": "x=1; y=2"}
    )
    assert status == 200
    assert json.loads(body) == {
        "method": "POST",
        "query": {"a": ["1", "2"], "b": ["é"]},
        "cookies": {"x": "1", "y": "2"},
        "body": "payload",
    }
    assert sorted(cookie.split(";")[0] for cookie in headers.get_all("Set-Cookie")) == ["first=1", "second=2"]
    [(function, event)] = running.gateway.invoker.events
    assert (function, event["version"], event["rawPath"], event["rawQueryString"]) == (
        "HttpFunction",
        "2.0",
        "/echo/",
        "a=1&a=2&b=%C3%A9",
    )
    assert event["cookies"] == ["x=1", "y=2"]


def test_binary_responses_come_back_byte_for_byte(running):
    status, headers, body = _http(running, "/binary/")
    assert (status, headers["Content-Type"], body) == (200, "application/octet-stream", bytes(range(256)))


def test_each_event_is_one_log_line_without_the_token(running, caplog):
    caplog.set_level("INFO", logger="infra.local")
    with connect(_url(running, "?channel=lobby&ws_token=secret-value")) as client:
        client.send(json.dumps({"action": "echo"}))
        client.recv(timeout=10)

    def gateway_lines() -> list[str]:
        return [record.getMessage() for record in caplog.records if record.name == "infra.local"]

    lines = _wait_for(lambda: gateway_lines() if len(gateway_lines()) == 3 else None)
    assert [line.split()[1] for line in lines] == ["CONNECT", "MESSAGE", "DISCONNECT"]
    assert "?channel=lobby&ws_token=***" in lines[0]
    assert "echo" in lines[1]
    assert " 200 " in lines[1]
    assert "secret-value" not in caplog.text
