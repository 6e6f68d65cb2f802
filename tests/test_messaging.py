"""Sending through the Management API: one connection (boto3, moto and Stubber) and many (the concurrent sender
against the local stub, which records the exact bytes and headers it received)."""

import datetime
import decimal
import uuid

import pytest
from botocore.stub import Stubber
from django.contrib.auth import get_user_model
from moto import mock_aws
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core import DEFAULT_ACCOUNT_ID

from websockets_app import messaging
from websockets_app.messaging import (
    MAX_PAYLOAD_BYTES,
    ManagementApiError,
    MessagingError,
    PayloadError,
    broadcast,
    close,
    encode_payload,
    info,
    send_to_channel,
    send_to_user,
)
from websockets_app.messaging.results import Failure
from websockets_app.messaging.transports import boto
from websockets_app.models import ApiGateway, WebSocketSession

ENDPOINT = "https://abc123.execute-api.eu-west-1.amazonaws.com/production"


def moto_data(connection_id, region="eu-west-1"):
    return apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][region].connections[connection_id].data


def connected(connection_id):
    return WebSocketSession.objects.get(connection_id=connection_id).connected


def stub_client():
    return Stubber(boto.client_for(ENDPOINT, "eu-west-1"))


# --- Encoding ----------------------------------------------------------------------------------------------


def test_data_is_json_encoded_once_with_djangos_encoder():
    data = {
        "when": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "price": decimal.Decimal("9.99"),
        "text": "café",
    }
    assert (
        encode_payload(data)
        == (
            '{"when":"2024-05-01T12:30:00Z","id":"12345678-1234-5678-1234-567812345678","price":"9.99","text":"café"}'
        ).encode()
    )


def test_strings_and_bytes_are_sent_as_they_are():
    assert encode_payload("plain ü") == "plain ü".encode()
    assert encode_payload(b"\x00\xff") == b"\x00\xff"
    assert encode_payload(bytearray(b"ab")) == b"ab"


def test_a_payload_of_exactly_128_kb_is_accepted():
    assert len(encode_payload(b"x" * MAX_PAYLOAD_BYTES)) == MAX_PAYLOAD_BYTES


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"x" * (MAX_PAYLOAD_BYTES + 1), "at most 131072 bytes"),
        ({"text": "é" * 70_000}, "at most 131072 bytes"),
        ({"a": {1, 2}}, "cannot be encoded as JSON"),
        (object(), "cannot be encoded as JSON"),
        ("", "empty"),
    ],
)
def test_bad_payloads_are_refused_before_any_call(management_stub, make_session, data, message):
    session = make_session()
    with pytest.raises(PayloadError, match=message):
        session.send_message(data)
    with pytest.raises(PayloadError, match=message):
        WebSocketSession.objects.all().send_message(data)
    assert management_stub.stub.requests == []
    assert connected(session.connection_id)


# --- One connection: boto3, moto, Stubber ------------------------------------------------------------------


@mock_aws
def test_send_message_posts_the_json_to_its_connection(aws_credentials, make_session):
    session = make_session(connection_id="Abc123")
    result = session.send_message({"type": "reply", "n": 1})
    assert moto_data("Abc123") == b'{"type":"reply","n":1}'
    assert (result.sent, result.gone, result.failed) == (["Abc123"], [], [])
    assert result.duration > 0


@mock_aws
def test_send_message_takes_no_query_when_the_gateway_is_loaded(
    aws_credentials, make_session, django_assert_num_queries
):
    session = WebSocketSession.objects.select_related("api_gateway").get(pk=make_session(connection_id="q1").pk)
    with django_assert_num_queries(0):
        session.send_message("hi")
    assert moto_data("q1") == b"hi"


@pytest.mark.parametrize(
    ("code", "status"), [("GoneException", 410), ("ForbiddenException", 403)], ids=["gone", "unknown-id"]
)
def test_a_gone_or_unknown_connection_is_marked_disconnected(aws_credentials, make_session, code, status):
    session = make_session(connection_id="c1")
    with stub_client() as stubber:
        stubber.add_client_error("post_to_connection", service_error_code=code, http_status_code=status)
        result = session.send_message({"a": 1})
        stubber.assert_no_pending_responses()
    assert (result.sent, result.gone, result.failed) == ([], ["c1"], [])
    assert session.connected is False
    assert not connected("c1")


def test_a_403_for_missing_permissions_does_not_mark_the_connection(aws_credentials, make_session):
    session = make_session(connection_id="c1")
    with stub_client() as stubber:
        stubber.add_client_error("post_to_connection", service_error_code="AccessDeniedException", http_status_code=403)
        result = session.send_message("x")
    assert result.failed == [Failure("c1", "AccessDeniedException", "", 403)]
    assert not result.ok
    assert connected("c1")


def test_throttled_posts_are_retried_and_delivered(aws_credentials, fast_backoff, make_session):
    session = make_session(connection_id="c1")
    with stub_client() as stubber:
        for _ in range(2):
            stubber.add_client_error(
                "post_to_connection", service_error_code="LimitExceededException", http_status_code=429
            )
        stubber.add_response("post_to_connection", {}, {"ConnectionId": "c1", "Data": b'"hi"'})
        result = session.send_message(b'"hi"')
        stubber.assert_no_pending_responses()
    assert result.sent == ["c1"]


def test_throttling_that_outlasts_the_attempts_is_a_failure(settings, aws_credentials, fast_backoff, make_session):
    settings.WEBSOCKETS = {"SEND_MAX_ATTEMPTS": 2}
    session = make_session(connection_id="c1")
    with stub_client() as stubber:
        for _ in range(2):
            stubber.add_client_error(
                "post_to_connection", service_error_code="LimitExceededException", http_status_code=429
            )
        result = session.send_message("x")
        stubber.assert_no_pending_responses()
    [failure] = result.failed
    assert (failure.code, failure.status, failure.retryable) == ("LimitExceededException", 429, True)
    assert connected("c1")


def test_a_session_without_a_gateway_is_reported_not_crashed(aws_credentials, make_session):
    session = make_session(connection_id="orphan", api_gateway=None)
    result = session.send_message("x")
    [failure] = result.failed
    assert (failure.connection_id, failure.code) == ("orphan", messaging.NO_API_GATEWAY)
    assert connected("orphan")


def test_a_gateway_without_an_api_id_is_reported(aws_credentials, make_gateway, make_session):
    session = make_session(connection_id="c1", api_gateway=make_gateway(region="eu-west-1"))
    [failure] = session.send_message("x").failed
    assert failure.code == messaging.NO_ENDPOINT
    assert "has no API id" in failure.message


# --- Many connections: the concurrent sender against the stub -----------------------------------------------


def test_a_broadcast_reaches_every_live_connection_once_and_marks_the_gone(management_stub, make_session):
    ids = ["live-1", "live-2", "throttle-3", "gone-4", "forbidden-5", "denied-6", "broken-7", "live-8"]
    for connection_id in ids:
        make_session(connection_id=connection_id, channel_name="room")
    make_session(connection_id="live-off", connected=False)

    result = broadcast({"msg": "hello"})

    delivered = management_stub.stub.delivered
    assert dict(delivered) == {cid: [b'{"msg":"hello"}'] for cid in ("live-1", "live-2", "throttle-3", "live-8")}
    assert sorted(result.sent) == ["live-1", "live-2", "live-8", "throttle-3"]
    assert sorted(result.gone) == ["forbidden-5", "gone-4"]
    assert sorted((f.connection_id, f.code, f.status) for f in result.failed) == [
        ("broken-7", "InternalServerErrorException", 500),
        ("denied-6", "AccessDeniedException", 403),
    ]
    assert set(WebSocketSession.objects.filter(connected=False).values_list("connection_id", flat=True)) == {
        "gone-4",
        "forbidden-5",
        "live-off",
    }


def test_the_gone_rows_are_marked_in_one_update(management_stub, make_session, django_assert_num_queries):
    for n in range(3):
        make_session(connection_id=f"gone-{n}")
        make_session(connection_id=f"live-{n}")
    # The ids, their gateways, one UPDATE.
    with django_assert_num_queries(3):
        result = WebSocketSession.objects.send_message("x")
    assert len(result.gone) == 3


def test_the_posts_carry_a_valid_sigv4_signature(management_stub, make_session, monkeypatch):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials

    make_session(connection_id="a+b/c=")
    make_session(connection_id="live-2")
    WebSocketSession.objects.send_message("signed")

    assert len(management_stub.stub.requests) == 2
    for request in management_stub.stub.requests:
        signed_time = datetime.datetime.strptime(request.headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
        monkeypatch.setattr("botocore.auth.get_current_datetime", lambda signed_time=signed_time: signed_time)
        expected = AWSRequest(method="POST", url=management_stub.url + request.target, data=request.body)
        SigV4Auth(ReadOnlyCredentials("testing", "testing", None), "execute-api", "eu-west-1").add_auth(expected)
        assert request.headers["authorization"] == expected.headers["Authorization"]
        assert request.headers["host"] == management_stub.url.removeprefix("http://")
        assert "/eu-west-1/execute-api/aws4_request" in request.headers["authorization"]


def test_connection_ids_are_encoded_in_the_url_as_boto3_encodes_them(management_stub):
    from websockets_app.messaging import aws_clients
    from websockets_app.messaging.results import Target

    odd_id = "a+b/c= d"
    aws_clients.client(boto.SERVICE, "eu-west-1", management_stub.url).post_to_connection(
        ConnectionId=odd_id, Data=b"1"
    )
    messaging.deliver([Target(odd_id, management_stub.url, "eu-west-1")] * 2, b"2")  # two: the concurrent path
    assert {request.target for request in management_stub.stub.requests} == {"/@connections/a%2Bb%2Fc%3D%20d"}
    assert management_stub.stub.delivered[odd_id] == [b"1", b"2", b"2"]


def test_pools_and_connections_are_reused_across_sends(management_stub, make_session):
    from websockets_app.messaging.transports import concurrent

    for n in range(6):
        make_session(connection_id=f"live-{n}")
    WebSocketSession.objects.send_message("one")
    [first_pool] = concurrent._sender_loop().pools.values()
    WebSocketSession.objects.send_message("two")
    [second_pool] = concurrent._sender_loop().pools.values()
    assert first_pool is second_pool
    assert management_stub.stub.counts["connections_opened"] <= 6  # not 12: the pool kept them open
    assert all(bodies == [b"one", b"two"] for bodies in management_stub.stub.delivered.values())


def test_the_sender_works_from_a_thread_that_runs_an_event_loop(management_stub):
    import asyncio

    from websockets_app.messaging.results import Target

    targets = [Target(f"live-{n}", management_stub.url, "eu-west-1") for n in range(3)]

    async def inside_a_running_loop():
        return messaging.deliver(targets, b"from async")

    result = asyncio.run(inside_a_running_loop())
    assert sorted(result.sent) == ["live-0", "live-1", "live-2"]


def test_a_forked_process_gets_its_own_loop_and_clients(management_stub, monkeypatch):
    import os

    from websockets_app.messaging import aws_clients
    from websockets_app.messaging.transports import concurrent

    parent_loop = concurrent._sender_loop()
    parent_client = aws_clients.client(boto.SERVICE, "eu-west-1", management_stub.url)
    real_pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real_pid + 1)
    child_loop = concurrent._sender_loop()
    assert child_loop is not parent_loop
    assert child_loop.loop is not parent_loop.loop
    assert aws_clients.client(boto.SERVICE, "eu-west-1", management_stub.url) is not parent_client
    monkeypatch.undo()
    child_loop.run(child_loop.close_pools())
    child_loop.loop.call_soon_threadsafe(child_loop.loop.stop)


def test_a_queryset_sends_each_row_through_its_own_gateway(management_stub, make_gateway, make_session, monkeypatch):
    monkeypatch.setattr(
        ApiGateway,
        "management_endpoint_url",
        property(lambda gateway: f"{management_stub.url}/{gateway.api_id}/{gateway.stage_name}"),
    )
    eu = make_gateway(api_id="euapi", region="eu-west-1")
    us = make_gateway(api_id="usapi", region="us-east-1", stage_name="dev")
    for n in range(3):
        make_session(connection_id=f"live-eu-{n}", api_gateway=eu, channel_name="all")
        make_session(connection_id=f"live-us-{n}", api_gateway=us, channel_name="all")

    result = send_to_channel("all", "hi")

    assert len(result.sent) == 6
    assert len(management_stub.stub.requests) == 6
    for request in management_stub.stub.requests:
        connection_id = request.target.rsplit("/", 1)[1]
        if "-eu-" in connection_id:
            assert request.target.startswith("/euapi/production/@connections/")
            assert "/eu-west-1/execute-api/" in request.headers["authorization"]
        else:
            assert request.target.startswith("/usapi/dev/@connections/")
            assert "/us-east-1/execute-api/" in request.headers["authorization"]


@mock_aws
def test_a_multi_gateway_queryset_through_boto3_lands_in_each_region(
    aws_credentials, make_gateway, make_session, monkeypatch
):
    monkeypatch.setattr(messaging.transports, "BOTO3_MAX_TARGETS", 10)
    eu = make_gateway(api_id="euapi", region="eu-west-1")
    us = make_gateway(api_id="usapi", region="us-east-1")
    make_session(connection_id="e1", api_gateway=eu)
    make_session(connection_id="u1", api_gateway=us)

    result = WebSocketSession.objects.send_message({"k": "v"})

    assert sorted(result.sent) == ["e1", "u1"]
    assert moto_data("e1", "eu-west-1") == b'{"k":"v"}'
    assert moto_data("u1", "us-east-1") == b'{"k":"v"}'


def test_only_connected_rows_of_a_queryset_are_sent_to(management_stub, make_session):
    make_session(connection_id="live-on", channel_name="c")
    make_session(connection_id="live-off", channel_name="c", connected=False)
    make_session(connection_id="live-elsewhere", channel_name="d")
    result = send_to_channel("c", "x")
    assert result.sent == ["live-on"]
    assert list(management_stub.stub.delivered) == ["live-on"]


def test_a_sliced_queryset_can_be_sent_to(management_stub, make_session):
    for n in range(4):
        make_session(connection_id=f"live-{n}")
    result = WebSocketSession.objects.order_by("connection_id")[:2].send_message("x")
    assert sorted(result.sent) == ["live-0", "live-1"]


def test_send_to_user_reaches_all_of_their_sessions(management_stub, make_session):
    user = get_user_model().objects.create_user("ada")
    make_session(connection_id="live-a1", user=user)
    make_session(connection_id="live-a2", user=user)
    make_session(connection_id="live-other")
    assert sorted(send_to_user(user, "x").sent) == ["live-a1", "live-a2"]


def test_orphan_sessions_fail_without_stopping_the_rest(management_stub, make_session):
    make_session(connection_id="live-1")
    make_session(connection_id="live-2")
    make_session(connection_id="orphan", api_gateway=None)
    result = WebSocketSession.objects.send_message("x")
    assert sorted(result.sent) == ["live-1", "live-2"]
    assert [(f.connection_id, f.code) for f in result.failed] == [("orphan", messaging.NO_API_GATEWAY)]


def test_without_credentials_every_post_fails_clearly(management_stub, make_session, monkeypatch):
    from websockets_app.messaging import aws_clients

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    aws_clients.reset()
    make_session(connection_id="live-1")
    make_session(connection_id="live-2")
    result = WebSocketSession.objects.send_message("x")
    assert {f.code for f in result.failed} == {"NoCredentialsError"}
    assert management_stub.stub.requests == []
    assert WebSocketSession.objects.filter(connected=True).count() == 2


def test_an_unreachable_endpoint_is_retried_then_reported(settings, aws_credentials, fast_backoff, make_session):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.WEBSOCKETS = {"MANAGEMENT_ENDPOINT_URL": f"http://127.0.0.1:{port}", "SEND_MAX_ATTEMPTS": 2}
    make_session(connection_id="c1")
    make_session(connection_id="c2")
    result = WebSocketSession.objects.send_message("x")
    assert {(f.code, f.retryable) for f in result.failed} == {("ConnectionError", True)}
    assert WebSocketSession.objects.filter(connected=True).count() == 2


def test_the_result_summarises_itself(management_stub, make_session):
    make_session(connection_id="live-1")
    make_session(connection_id="gone-2")
    text = str(WebSocketSession.objects.send_message("x"))
    assert text.startswith("1 sent, 1 gone, 0 failed in ")


# --- close() and info() ----------------------------------------------------------------------------------


@mock_aws
def test_close_deletes_the_connection_and_marks_the_session(aws_credentials, make_session):
    session = make_session(connection_id="c1")
    moto_data("c1")  # moto creates connections on first sight
    assert close(session) is True
    assert "c1" not in apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].connections
    assert not connected("c1")


def test_close_of_a_gone_connection_returns_false(aws_credentials, make_session):
    make_session(connection_id="c1")
    with stub_client() as stubber:
        stubber.add_client_error("delete_connection", service_error_code="GoneException", http_status_code=410)
        assert close("c1") is False
    assert not connected("c1")


def test_close_refused_by_aws_raises_and_changes_nothing(aws_credentials, make_session):
    make_session(connection_id="c1")
    with stub_client() as stubber:
        stubber.add_client_error("delete_connection", service_error_code="AccessDeniedException", http_status_code=403)
        with pytest.raises(ManagementApiError, match="AccessDeniedException for connection 'c1'"):
            close("c1")
    assert connected("c1")


@pytest.mark.parametrize("call", [close, info])
def test_close_and_info_need_a_known_reachable_session(aws_credentials, make_session, call):
    with pytest.raises(MessagingError, match="no session with connection id 'nope'"):
        call("nope")
    make_session(connection_id="orphan", api_gateway=None)
    with pytest.raises(MessagingError, match="has no API Gateway"):
        call("orphan")


@mock_aws
def test_info_returns_what_api_gateway_knows(aws_credentials, make_session):
    session = make_session(connection_id="c1")
    facts = info(session)
    assert set(facts) == {"ConnectedAt", "Identity", "LastActiveAt"}
    assert facts["Identity"]["SourceIp"]


def test_info_of_a_gone_connection_is_none_and_marks_it(aws_credentials, make_session):
    session = make_session(connection_id="c1")
    with stub_client() as stubber:
        stubber.add_client_error("get_connection", service_error_code="GoneException", http_status_code=410)
        assert info(session) is None
    assert session.connected is False
    assert not connected("c1")


def test_messaging_imports_no_aws_library_until_a_send():
    import subprocess
    import sys

    # (The logging formatter imports botocore's tiny top-level package for its user agent; nothing more.)
    heavy = (
        "boto3",
        "botocore.session",
        "botocore.client",
        "botocore.auth",
        "httptools",
        "websockets_app.messaging.aws_clients",
        "websockets_app.messaging.transports.boto",
        "websockets_app.messaging.transports.concurrent",
        "websockets_app.messaging.transports.http1",
    )
    code = (
        "import django, sys; django.setup(); import websockets_app.messaging, websockets_app.models; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "project.settings", "DJANGO_DEBUG": "1"},
    ).stdout
    assert output.strip() == "[]"


# --- The package and the models ----------------------------------------------------------------------------


def _function_local_imports(tree, module):
    """(line, function) of every import of ``module`` made inside a function body."""
    import ast

    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            if any(name == module or name.startswith(f"{module}.") for name in names):
                found.append((node.lineno, function.name))
    return found


def test_the_send_package_imports_the_models_at_module_level_only():
    import ast
    from pathlib import Path

    package = Path(messaging.__file__).parent
    modules = sorted(package.rglob("*.py"))
    assert len(modules) > 10
    function_local = {}
    top_level = []
    for path in modules:
        tree = ast.parse(path.read_text(), filename=str(path))
        if found := _function_local_imports(tree, "websockets_app.models"):
            function_local[str(path.relative_to(package))] = found
        top_level += [
            path.name
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module == "websockets_app.models"
        ]
    assert function_local == {}
    assert {"api.py", "endpoints.py", "consumer.py"} <= set(top_level)


def test_the_models_reach_the_send_package_only_through_their_hook():
    import ast
    from pathlib import Path

    from websockets_app import models

    tree = ast.parse(Path(models.__file__).read_text())
    assert _function_local_imports(tree, "websockets_app.messaging") == []
    mentions = [
        function.name
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Constant) and node.value == "websockets_app.messaging"
    ]
    assert mentions == ["get_messaging"]
    assert models.get_messaging() is messaging


def test_the_model_methods_send_through_the_hook(make_session, monkeypatch):
    from types import SimpleNamespace

    from websockets_app import models

    calls = []
    fake = SimpleNamespace(
        send_to_sessions=lambda sessions, data: calls.append(("sessions", list(sessions), data)) or "one",
        send_to_queryset=lambda queryset, data: calls.append(("queryset", list(queryset), data)) or "many",
    )
    monkeypatch.setattr(models, "get_messaging", lambda: fake)
    session = make_session(connection_id="c1")
    assert session.send_message("hi") == "one"
    assert WebSocketSession.objects.all().send_message("all") == "many"
    assert calls == [("sessions", [session], "hi"), ("queryset", [session], "all")]
