"""The local gateway's pieces on their own: configuration, events, the frame guard, invokers and the command line."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from aiohttp import web
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from infra.local import events
from infra.local.__main__ import config_from, local_environment, main, parse_args
from infra.local.config import ConfigError, GatewayConfig
from infra.local.frames import FrameSizeGuard
from infra.local.gateway import GatewayThread, LocalGateway
from infra.local.invokers import InProcessInvoker, InvocationFailed, RemoteInvoker

# -- configuration ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"http_port": 8001, "ws_port": 8001}, "must differ"),
        ({"ws_port": 70000}, "port number"),
        ({"idle_timeout": 0}, "idle_timeout must be positive"),
        ({"max_frame_bytes": 200_000}, "cannot exceed"),
        ({"routes": frozenset({"a b"})}, "Route keys"),
        ({"route_selection_expression": "$request.header.x"}, "route selection expression"),
    ],
)
def test_bad_configuration_is_refused_with_a_reason(fields, message):
    with pytest.raises(ConfigError, match=message):
        GatewayConfig(**fields)


def test_the_defaults_are_api_gateways_quotas():
    config = GatewayConfig()
    assert (config.max_message_bytes, config.max_frame_bytes) == (128 * 1024, 32 * 1024)
    assert (config.idle_timeout, config.max_connection_seconds) == (600, 7200)
    assert (config.http_port, config.ws_port, config.selection_path) == (8000, 8001, ("action",))


def test_the_command_line_builds_the_configuration():
    args = parse_args(["--http-port", "9000", "--ws-port", "9001", "--route", "send", "--route", "join"])
    config = config_from(args)
    assert (config.http_port, config.ws_port, config.routes) == (9000, 9001, frozenset({"send", "join"}))
    assert args.lambda_endpoint is None
    assert args.sam is None


def test_the_command_line_reports_a_bad_configuration(capsys):
    assert main(["--http-port", "8001", "--ws-port", "8001"]) == 2
    assert "must differ" in capsys.readouterr().err


def test_the_local_environment_points_the_app_at_the_gateway():
    environment = local_environment(GatewayConfig(http_port=9000, ws_port=9001))
    assert environment["WEBSOCKETS_MANAGEMENT_ENDPOINT_URL"] == "http://127.0.0.1:9001"
    assert environment["WEBSOCKETS_CLIENT_URL"] == "ws://127.0.0.1:9001"
    assert environment["WEBSOCKETS_ALLOWED_ORIGINS"] == "http://127.0.0.1:9000,http://localhost:9000"
    assert environment["DJANGO_DEBUG"] == "1"


# -- events ------------------------------------------------------------------------------------------------------


def test_connect_events_keep_repeated_headers_and_query_values():
    facts = events.connection_facts("abc=", "127.0.0.1", "ua", "127.0.0.1", "local", "local")
    event = events.connect_event(
        facts,
        [("Host", "h"), ("X-Forwarded-For", "1.2.3.4"), ("X-A", "1"), ("X-A", "2")],
        [("c", "1"), ("c", "2")],
        "http",
    )
    assert event["multiValueHeaders"]["X-A"] == ["1", "2"]
    assert event["headers"]["X-A"] == "2"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"  # a client's own value is replaced
    assert event["multiValueQueryStringParameters"] == {"c": ["1", "2"]}
    assert event["requestContext"]["eventType"] == "CONNECT"


def test_http_results_become_repeated_headers_and_bytes():
    reply = events.read_http_result(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "image/png", "X-One": "1"},
            "multiValueHeaders": {"X-One": ["a", "b"]},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": "AAEC",
            "isBase64Encoded": True,
        }
    )
    assert reply.status == 201
    assert reply.body == b"\x00\x01\x02"
    assert reply.headers == [
        ("Content-Type", "image/png"),
        ("X-One", "a"),
        ("X-One", "b"),
        ("Set-Cookie", "a=1; Path=/"),
        ("Set-Cookie", "b=2"),
    ]


# -- the frame guard -----------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self):
        self.fed = b""

    def feed_data(self, data):
        self.fed += data
        return False, b""

    def feed_eof(self):
        pass


class _Queue:
    exception = None

    def set_exception(self, exc):
        self.exception = exc


def _header(opcode: int, length: int, *, fin: bool = True) -> bytes:
    """A masked client frame header announcing ``length`` payload bytes."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        return bytes([first, 0x80 | length]) + b"MASK"
    if length < 1 << 16:
        return bytes([first, 0x80 | 126]) + length.to_bytes(2, "big") + b"MASK"
    return bytes([first, 0x80 | 127]) + length.to_bytes(8, "big") + b"MASK"


def _frame(opcode: int, length: int, *, fin: bool = True) -> bytes:
    return _header(opcode, length, fin=fin) + b"x" * length


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096, 1 << 20])
def test_the_guard_passes_frames_within_the_limit_however_the_bytes_arrive(chunk):
    stream = _frame(0x1, 10, fin=False) + _frame(0x0, 32 * 1024) + _frame(0x2, 300) + _frame(0x9, 125)
    parser, queue = _Parser(), _Queue()
    guard = FrameSizeGuard(parser, queue, 32 * 1024)
    for start in range(0, len(stream), chunk):
        guard.feed_data(stream[start : start + chunk])
    assert parser.fed == stream
    assert queue.exception is None


@pytest.mark.parametrize(("opcode", "length"), [(0x1, 32 * 1024 + 1), (0x2, 70_000), (0x0, 1 << 33)])
def test_the_guard_stops_the_first_frame_over_the_limit(opcode, length):
    parser, queue = _Parser(), _Queue()
    guard = FrameSizeGuard(parser, queue, 32 * 1024)
    first = _frame(0x1, 5)
    guard.feed_data(first)
    assert guard.feed_data(_header(opcode, length) + b"x" * 10) == (True, b"")
    assert queue.exception.code == 1009
    assert parser.fed == first  # nothing of the oversized frame reached aiohttp
    assert guard.feed_data(b"more") == (True, b"")


# -- invokers ------------------------------------------------------------------------------------------------------


def _accept_all(event, context):
    if event.get("requestContext", {}).get("eventType") == "MESSAGE":
        if event["body"] == "boom":
            raise RuntimeError("handler failed")
        return {"statusCode": 200, "body": json.dumps({"echo": event["body"]})}
    return {"statusCode": 200}


def _http_ok(event, context):
    return {"statusCode": 200, "body": f"{event['rawPath']}"}


def test_a_failing_handler_is_an_internal_error_to_the_client():
    gateway = LocalGateway(
        GatewayConfig(http_port=0, ws_port=0),
        InProcessInvoker({"WebSocketFunction": _accept_all, "HttpFunction": _http_ok}, workers=2),
    )
    with GatewayThread(gateway), connect(gateway.ws_url) as client:
        client.send("hello")
        assert json.loads(client.recv(timeout=10)) == {"echo": "hello"}
        client.send("boom")
        reply = json.loads(client.recv(timeout=10))
        assert reply["message"] == "Internal server error"
        assert reply["connectionId"] in gateway.connections


def test_a_handler_that_fails_on_connect_refuses_the_handshake():
    def failing(event, context):
        raise RuntimeError("no database")

    gateway = LocalGateway(GatewayConfig(http_port=0, ws_port=0), InProcessInvoker({"WebSocketFunction": failing}, 1))
    with GatewayThread(gateway), pytest.raises(InvalidStatus) as refused:
        connect(gateway.ws_url)
    assert refused.value.response.status_code == 500


class _FakeLambdaEndpoint:
    """The Lambda Invoke API as ``sam local start-lambda`` serves it, answering with in-process handlers."""

    def __init__(self, handlers):
        self.handlers = handlers
        self.invoked: list[str] = []

    async def invoke(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.invoked.append(name)
        try:
            result = self.handlers[name](json.loads(await request.read()), None)
        except Exception as exc:
            body = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            return web.json_response(body, headers={"X-Amz-Function-Error": "Unhandled"})
        return web.json_response(result)


def test_a_lambda_endpoint_is_invoked_over_the_invoke_api():
    endpoint = _FakeLambdaEndpoint({"WebSocketFunction": _accept_all, "HttpFunction": _http_ok})
    app = web.Application()
    app.router.add_post("/2015-03-31/functions/{name}/invocations", endpoint.invoke)

    async def start_endpoint():
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, runner.addresses[0][1]

    gateway = LocalGateway(GatewayConfig(http_port=0, ws_port=0), RemoteInvoker("http://placeholder"))
    with GatewayThread(gateway) as running:
        runner, port = running.run(start_endpoint())
        gateway.invoker = RemoteInvoker(f"http://127.0.0.1:{port}")
        with connect(gateway.ws_url) as client:
            client.send("over the wire")
            assert json.loads(client.recv(timeout=10)) == {"echo": "over the wire"}
            client.send("boom")
            assert json.loads(client.recv(timeout=10))["message"] == "Internal server error"
        import urllib.request

        with urllib.request.urlopen(f"{gateway.http_url}/a/b", timeout=10) as response:  # noqa: S310
            assert response.read() == b"/a/b"
        running.run(gateway.invoker.close())
        running.run(runner.cleanup())
    assert endpoint.invoked[:3] == ["WebSocketFunction", "WebSocketFunction", "WebSocketFunction"]
    assert "HttpFunction" in endpoint.invoked


def test_an_unreachable_lambda_endpoint_is_an_invocation_failure():
    invoker = RemoteInvoker("http://127.0.0.1:9", timeout=5)

    async def invoke():
        try:
            await invoker.invoke("WebSocketFunction", {})
        finally:
            await invoker.close()

    with pytest.raises(InvocationFailed, match=re.escape("127.0.0.1:9")):
        asyncio.run(invoke())


# -- the command line, for real --------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_python_m_infra_local_serves_the_site_and_stops_cleanly_on_sigterm(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    http_port, ws_port = _free_port(), _free_port()
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local", "--http-port", str(http_port), "--ws-port", str(ws_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops" in line:
                break
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/", timeout=10) as response:
            assert response.status == 200
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        process.kill()
    text = "".join(lines) + output
    assert process.returncode == 0, text
    assert f"ws://127.0.0.1:{ws_port}" in text
    assert "HTTP GET        / 200" in text
    assert "Stopping" in text
    assert '"_aws"' not in text  # no metric blobs in the local log


# -- what a stub handler shows of the gateway --------------------------------------------------------------------


def _stub_gateway(websocket_handler=_accept_all, http_handler=_http_ok, **config):
    handlers = {"WebSocketFunction": websocket_handler, "HttpFunction": http_handler}
    return LocalGateway(GatewayConfig(http_port=0, ws_port=0, **config), InProcessInvoker(handlers, workers=2))


def test_the_subprotocol_a_connect_result_names_is_the_one_agreed():
    def with_protocol(event, context):
        if event["requestContext"]["eventType"] == "CONNECT":
            return {"statusCode": 200, "headers": {"sec-websocket-protocol": "chat.v1"}}
        return {"statusCode": 200}

    gateway = _stub_gateway(with_protocol)
    with GatewayThread(gateway), connect(gateway.ws_url, subprotocols=["chat.v2", "chat.v1"]) as client:
        assert client.subprotocol == "chat.v1"


def test_other_methods_on_a_connection_are_not_allowed():
    import urllib.error
    import urllib.request

    gateway = _stub_gateway()
    with GatewayThread(gateway):
        url = f"http://127.0.0.1:{gateway.ws_port}/@connections/abc="
        request = urllib.request.Request(url, method="PUT")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 (127.0.0.1 only)
    assert refused.value.code == 405
    assert refused.value.headers["x-amzn-ErrorType"] == "MethodNotAllowedException"


def test_a_failing_http_handler_is_an_internal_server_error():
    import urllib.error
    import urllib.request

    def failing(event, context):
        raise RuntimeError("broken page")

    gateway = _stub_gateway(http_handler=failing)
    with GatewayThread(gateway), pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(f"{gateway.http_url}/page/", timeout=10)  # noqa: S310 (127.0.0.1 only)
    assert failed.value.code == 500
    assert json.loads(failed.value.read()) == {"message": "Internal Server Error"}


def _only_connection(gateway) -> str:
    """The one open connection's id, once the gateway has listed it (just after the handshake's answer)."""
    for _ in range(500):
        if gateway.connections:
            [connection_id] = list(gateway.connections)
            return connection_id
        time.sleep(0.01)
    raise AssertionError("the gateway lists no connection")


def test_a_dropped_connection_is_reported_lost_unless_the_disconnect_is_lost_too():
    disconnects: list[dict] = []

    def recording(event, context):
        if event["requestContext"]["eventType"] == "DISCONNECT":
            disconnects.append(event["requestContext"])
        return {"statusCode": 200}

    gateway = _stub_gateway(recording)
    with GatewayThread(gateway) as running:
        for send_disconnect in (True, False):
            with connect(gateway.ws_url) as client:
                connection_id = _only_connection(gateway)
                assert running.run(gateway.drop(connection_id, send_disconnect=send_disconnect))
                with pytest.raises(ConnectionClosed):
                    client.recv(timeout=10)
            for _ in range(200):
                if not gateway.connections:
                    break
                time.sleep(0.01)
        assert not running.run(gateway.drop("unknown=", send_disconnect=True))
    assert [(c["disconnectStatusCode"], c["disconnectReason"]) for c in disconnects] == [(1006, "dropped")]


def test_each_local_invocation_gets_its_own_context():
    from infra.invoke import LocalContext

    first, second = LocalContext("WebSocketFunction", timeout_seconds=29), LocalContext("WebSocketFunction")
    assert first.aws_request_id != second.aws_request_id
    assert first.invoked_function_arn.endswith(":function:WebSocketFunction")
    assert 28_000 < first.get_remaining_time_in_millis() <= 29_000
    assert LocalContext(timeout_seconds=0).get_remaining_time_in_millis() == 0
