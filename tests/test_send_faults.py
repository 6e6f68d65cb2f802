"""Sends against a Management API that misbehaves: forged fan-out records, poison records, endpoints that trickle,
answer with huge error bodies, stall or drop the connection after reading the request (both transports)."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.bench.stub import ManagementApiStub, StubThread
from websockets_app.messaging import send_to_channel
from websockets_app.messaging.fanout.consumer import handle_fanout_batch
from websockets_app.messaging.results import Target
from websockets_app.messaging.transports import boto, concurrent
from websockets_app.models import WebSocketSession

REGION = "eu-west-1"
MiB = 1024 * 1024
DEADLINE_EXCEEDED = "DeadlineExceeded"


def record(message_id: str, url: str, connections: list[str], **changes: Any) -> dict:
    body = {
        "v": 1,
        "endpoint": url,
        "region": REGION,
        "encoding": "base64",
        "payload": base64.b64encode(b"hi").decode(),
        "connections": connections,
        **changes,
    }
    return {"messageId": message_id, "body": json.dumps(body)}


class FakeLambdaContext:
    def __init__(self, remaining_ms: int) -> None:
        self.deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


@pytest.fixture
def attacker():
    """A second server, standing for an endpoint outside the account: it must never see a request."""
    with StubThread(ManagementApiStub(record_requests=True)) as running:
        yield running


# --- Forged fan-out records ----------------------------------------------------------------------------------


def test_a_record_for_an_unknown_endpoint_is_dropped_unsigned(management_stub, attacker, db, caplog):
    event = {"Records": [record("forged", attacker.url, ["live-1"]), record("fine", management_stub.url, ["live-2"])]}
    with caplog.at_level(logging.ERROR):
        response = handle_fanout_batch(event, None)
    assert response == {"batchItemFailures": []}  # it can never succeed: dropped, not retried
    assert attacker.stub.requests == []
    assert list(management_stub.stub.delivered) == ["live-2"]
    assert "forged" in caplog.text
    assert "testing" not in caplog.text  # the access key id
    assert "Signature" not in caplog.text


@pytest.mark.parametrize(
    "connections", [["gone-1", "../../@connections/x"], ["live-1", "a" * 129], ["live-1", "sp ace"], ["x\ud800"]]
)
def test_a_record_with_an_invalid_connection_id_is_dropped_unsent(management_stub, db, connections, caplog):
    with caplog.at_level(logging.ERROR):
        response = handle_fanout_batch({"Records": [record("bad-ids", management_stub.url, connections)]}, None)
    assert response == {"batchItemFailures": []}
    assert management_stub.stub.requests == []
    assert "bad-ids" in caplog.text


def test_a_record_for_a_known_gateway_is_accepted_with_one_query(
    settings, management_stub, make_gateway, db, django_assert_num_queries
):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "MANAGEMENT_ENDPOINT_URL": None}
    gateway = make_gateway(api_id="zzz999", region=REGION)
    known = f"https://zzz999.execute-api.{REGION}.amazonaws.com/{gateway.stage_name}"
    from websockets_app.messaging.fanout import consumer

    with django_assert_num_queries(1):
        endpoints = consumer.KnownEndpoints()
        verdicts = [
            endpoints.allows(known, REGION),
            endpoints.allows(known, "us-west-2"),
            endpoints.allows("https://evil.example/production", REGION),
            endpoints.allows(management_stub.url, REGION),
        ]
    assert verdicts == [True, False, False, False]


# --- Poison records -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"endpoint": "http://[::1"},
        {"endpoint": "http://127.0.0.1:99999/x"},
        {"region": "eu-west-1\nX-Injected: 1"},
        {"connections": ["live-\ud800"]},
        {"payload": "x" * 200_000, "encoding": "text"},
    ],
)
def test_a_poison_record_is_dropped_and_the_others_are_not_redelivered(management_stub, db, changes, caplog):
    event = {
        "Records": [
            record("before", management_stub.url, ["live-1"]),
            record("poison", management_stub.url, **{"connections": ["live-2"], **changes}),
            record("after", management_stub.url, ["live-3"]),
        ]
    }
    with caplog.at_level(logging.ERROR):
        response = handle_fanout_batch(event, None)
    assert response == {"batchItemFailures": []}
    assert sorted(management_stub.stub.delivered) == ["live-1", "live-3"]
    assert "poison" in caplog.text


def test_an_event_that_is_not_an_sqs_event_does_not_raise(db):
    for event in [None, [], {"Records": None}, {"Records": [None, 1, "x", {"messageId": 5}]}]:
        assert handle_fanout_batch(event, None) == {"batchItemFailures": []}  # type: ignore[arg-type]


def _malformed_bodies(endpoint: str) -> st.SearchStrategy[str]:
    valid = json.loads(record("x", endpoint, ["fuzz-1"])["body"])  # a change may leave it valid: then it is sent
    field_values = st.one_of(
        st.none(),
        st.integers(-(2**70), 2**70),
        st.text(max_size=30),
        st.lists(st.text(max_size=8), max_size=3),
        st.sampled_from(
            [
                "http://[::1",
                "http://127.0.0.1:99999/x",
                "https://evil.example/p",
                "eu-west-1\r\nX: y",
                "x\ud800",
                "http://127.0.0.1:0/",
                "",
                "base64",
                "text",
                "***",
            ]
        ),
    )
    broken_field = st.builds(
        lambda key, value: json.dumps({**valid, key: value}),
        st.sampled_from(sorted(valid)),
        field_values,
    )
    return st.one_of(broken_field, st.text(max_size=40), st.just("{"), st.just("[]"), st.just('{"v": 1}'))


def test_random_batches_of_valid_and_poison_records(management_stub, db, caplog):
    """Four-record batches mixing valid and malformed records: the handler never raises, and no record that
    succeeded (or that can never succeed) is handed back to SQS."""
    url = management_stub.url
    counter = iter(range(10**9))
    runs = [0]

    @hypothesis_settings(max_examples=500)
    @given(kinds=st.lists(st.one_of(st.just(None), _malformed_bodies(url)), min_size=4, max_size=4))
    def run(kinds: list[str | None]) -> None:
        runs[0] += 1
        records, valid = [], set()
        for index, body in enumerate(kinds):
            message_id = f"m{next(counter)}"
            if body is None:
                prefix = ("live", "gone", "forbidden", "live")[index]
                records.append(record(message_id, url, [f"{prefix}-{message_id}", f"live-{message_id}b"]))
                valid.add(message_id)
            else:
                records.append({"messageId": message_id, "body": body})
        response = handle_fanout_batch({"Records": records}, None)
        handed_back = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        assert handed_back == set(), handed_back
        for message_id in valid:
            assert management_stub.stub.delivered[f"live-{message_id}b"] == [b"hi"]

    with caplog.at_level(logging.ERROR):
        run()
    assert runs[0] >= 500
    assert all(len(bodies) == 1 for cid, bodies in management_stub.stub.delivered.items() if cid != "fuzz-1")
    assert "failed unexpectedly" not in caplog.text  # every malformed record was recognised as such


# --- Deadlines and bounded error bodies ------------------------------------------------------------------------


@pytest.fixture
def faulty_stub(settings, aws_credentials, fast_backoff):
    """The stub with faults sped up: a byte every 0.5 s, a stall, a 100 MiB error body; a 1.5 s send deadline."""
    with StubThread(ManagementApiStub(record_requests=False, trickle_interval=0.5)) as running:
        settings.WEBSOCKETS = {
            "MANAGEMENT_ENDPOINT_URL": running.url,
            "AWS_REGION": REGION,
            "SEND_CONCURRENCY": 8,
            "SEND_MAX_ATTEMPTS": 3,
            "SEND_TIMEOUT_SECONDS": 1.5,
        }
        yield running
        concurrent.shutdown()


# One target goes through boto3 in the calling thread, more through the concurrent sender.
@pytest.mark.parametrize("live", [0, 2], ids=["boto3", "concurrent"])
@pytest.mark.parametrize("fault", ["trickle", "stall"])
def test_a_send_ends_at_its_deadline_and_reports_what_was_cut_off(faulty_stub, make_session, live, fault):
    make_session(connection_id=f"{fault}-0", channel_name="slow")
    for n in range(live):
        make_session(connection_id=f"live-{n}", channel_name="slow")
    started = time.monotonic()
    result = send_to_channel("slow", "x")
    elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 0.75, elapsed
    assert sorted(result.sent) == [f"live-{n}" for n in range(live)]
    assert [(f.connection_id, f.code) for f in result.unknown] == [(f"{fault}-0", DEADLINE_EXCEEDED)]
    assert not result.ok
    assert WebSocketSession.objects.filter(connected=True).count() == live + 1


def test_a_boto3_call_that_connects_as_its_deadline_passes_still_ends_by_it(faulty_stub, monkeypatch):
    """A call that starts just before its deadline (a busy machine): the watchdog fires while the connection is
    still connecting, before it has a socket to shut down. The read must still end by the deadline, not wait for
    the read timeout (10 s)."""
    from types import SimpleNamespace

    deadline = time.monotonic() + 0.5
    readings = iter([deadline - 0.001])  # the call's check reads just before the deadline; every later reading after
    clock = SimpleNamespace(monotonic=lambda: next(readings, deadline + 0.001), sleep=time.sleep)
    monkeypatch.setattr(boto, "time", clock)
    armed = boto._watchdog.arm

    def fired_before_the_socket(deadline, connection):
        entry = armed(deadline, connection)
        boto._shut_down(connection)  # the watchdog's work at the deadline: there is no socket yet
        boto._watchdog.disarm(entry)  # and it fires once
        return entry

    monkeypatch.setattr(boto._watchdog, "arm", fired_before_the_socket)
    started = time.perf_counter()
    result = boto.post_each([Target("stall-0", faulty_stub.url, REGION)], b"x", deadline)
    assert time.perf_counter() - started < 1.5
    assert [(f.connection_id, f.code) for f in result.unknown] == [("stall-0", DEADLINE_EXCEEDED)]


def test_targets_never_started_before_the_deadline_fail_with_their_own_code(faulty_stub):
    targets = [Target(f"stall-{n}", faulty_stub.url, REGION) for n in range(2)]
    targets += [Target(f"live-{n}", faulty_stub.url, REGION) for n in range(3)]
    result = concurrent.deliver(targets, b"x", concurrency=2, max_attempts=3, deadline=time.monotonic() + 0.5)
    assert sorted(f.connection_id for f in result.unknown) == ["stall-0", "stall-1"]
    assert sorted((f.connection_id, f.code) for f in result.failed) == [
        (f"live-{n}", DEADLINE_EXCEEDED) for n in range(3)
    ]
    assert "live-0" not in faulty_stub.stub.delivered


def test_the_fanout_consumer_stops_before_the_lambda_does(faulty_stub, settings, db):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "SEND_TIMEOUT_SECONDS": 30}
    event = {"Records": [record("slow", faulty_stub.url, ["stall-1", "stall-2"])]}
    started = time.monotonic()
    response = handle_fanout_batch(event, FakeLambdaContext(remaining_ms=3500))
    elapsed = time.monotonic() - started
    # Cut at the remaining time minus the consumer's margin; the stalled posts may have arrived: not handed back.
    assert elapsed < 3.5, elapsed
    assert response == {"batchItemFailures": []}


@pytest.mark.parametrize("count", [1, 4], ids=["boto3", "concurrent"])
def test_huge_error_bodies_are_read_only_up_to_a_bound(faulty_stub, make_session, count):
    for n in range(count):
        make_session(connection_id=f"huge-{n}")
    boto.client_for(faulty_stub.url, REGION)  # clients and sessions exist before measuring
    WebSocketSession.objects.filter(connection_id__startswith="nobody").send_message("warm")
    tracemalloc.start()
    try:
        result = WebSocketSession.objects.send_message("x")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB, peak / MiB
    assert sorted((f.connection_id, f.status) for f in result.failed) == [(f"huge-{n}", 500) for n in range(count)]


# --- At most once -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("live", [0, 2], ids=["boto3", "concurrent"])
@pytest.mark.parametrize("fault", ["drop", "hangup"], ids=["reset", "closed"])
def test_a_post_whose_connection_drops_after_reading_it_is_unknown_and_sent_once(
    management_stub, make_session, live, fault
):
    make_session(connection_id=f"{fault}-0")
    for n in range(live):
        make_session(connection_id=f"live-{n}")
    result = WebSocketSession.objects.send_message("x")
    assert {cid: len(bodies) for cid, bodies in management_stub.stub.delivered.items()} == {
        f"{fault}-0": 1,
        **{f"live-{n}": 1 for n in range(live)},
    }
    assert [f.connection_id for f in result.unknown] == [f"{fault}-0"]
    assert result.failed == []
    assert "1 unknown" in str(result)
    assert WebSocketSession.objects.filter(connected=True).count() == live + 1


def test_the_fanout_consumer_never_hands_back_a_record_that_may_have_arrived(management_stub, db):
    event = {"Records": [record("dropped", management_stub.url, ["drop-1", "hangup-2", "live-3"])]}
    assert handle_fanout_batch(event, None) == {"batchItemFailures": []}
    assert len(management_stub.stub.delivered["drop-1"]) == 1
    assert len(management_stub.stub.delivered["hangup-2"]) == 1


def test_a_record_where_nothing_could_arrive_is_handed_back(settings, aws_credentials, fast_backoff, db):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings.WEBSOCKETS = {"MANAGEMENT_ENDPOINT_URL": url, "AWS_REGION": REGION, "SEND_MAX_ATTEMPTS": 2}
    response = handle_fanout_batch({"Records": [record("refused", url, ["live-1", "live-2"])]}, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "refused"}]}


# --- Chaos ---------------------------------------------------------------------------------------------------------


def test_a_600_session_broadcast_through_mixed_faults(faulty_stub, settings, gateway, django_assert_max_num_queries):
    # Room for every stalled post besides the others: all of them start before the deadline.
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "SEND_CONCURRENCY": 200, "SEND_TIMEOUT_SECONDS": 2.0}
    faulty_stub.stub.throttle_times = 2
    kinds = ["live"] * 7 + ["gone", "forbidden", "denied", "throttle", "broken", "stall", "drop", "hangup", "trickle"]
    ids = [f"{kinds[n % len(kinds)]}-{n:04d}" for n in range(600)]
    WebSocketSession.objects.bulk_create(
        [WebSocketSession(connection_id=cid, channel_name="chaos", api_gateway=gateway) for cid in ids]
    )
    started = time.monotonic()
    with django_assert_max_num_queries(4):
        result = send_to_channel("chaos", {"n": 1})
    elapsed = time.monotonic() - started
    assert elapsed < 2.0 + 1.0, elapsed

    by_kind: dict[str, set[str]] = {}
    for cid in ids:
        by_kind.setdefault(cid.split("-")[0], set()).add(cid)
    assert set(result.gone) == by_kind["gone"] | by_kind["forbidden"]
    assert set(result.sent) == by_kind["live"] | by_kind["throttle"]
    assert {f.connection_id for f in result.unknown} == (
        by_kind["stall"] | by_kind["drop"] | by_kind["hangup"] | by_kind["trickle"]
    )
    assert {f.connection_id for f in result.failed} == by_kind["denied"] | by_kind["broken"]
    disconnected = set(WebSocketSession.objects.filter(connected=False).values_list("connection_id", flat=True))
    assert disconnected == by_kind["gone"] | by_kind["forbidden"]
    delivered = faulty_stub.stub.delivered
    assert all(len(bodies) == 1 for bodies in delivered.values())
    # Every post that reached the stub's handler is recorded; refused ones (403, 410, 500) are not.
    refused = by_kind["gone"] | by_kind["forbidden"] | by_kind["denied"] | by_kind["broken"]
    assert set(delivered) == set(ids) - refused
    assert threading.active_count() < 50


# --- The setting and the Lambda context ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 0.05, -1, 901, float("nan"), True, "10", None])
def test_the_send_timeout_must_be_a_sensible_number_of_seconds(settings, value):
    from websockets_app.checks import check_websockets_settings

    settings.WEBSOCKETS = {"SEND_TIMEOUT_SECONDS": value}
    assert [message.id for message in check_websockets_settings()] == ["websockets_app.E021"]


@pytest.mark.parametrize("value", [0.1, 10, 29.5, 900])
def test_valid_send_timeouts_pass(settings, value):
    from websockets_app.checks import check_websockets_settings

    settings.WEBSOCKETS = {"SEND_TIMEOUT_SECONDS": value}
    assert check_websockets_settings() == []


def test_the_deadline_never_passes_the_lambda_invocations_end():
    from websockets_app.messaging.deadlines import LAMBDA_MARGIN_SECONDS, lambda_context, send_deadline

    now = time.monotonic()
    assert send_deadline(10) == pytest.approx(now + 10, abs=0.1)
    with lambda_context(FakeLambdaContext(remaining_ms=5000)):
        assert send_deadline(10) == pytest.approx(now + 5 - LAMBDA_MARGIN_SECONDS, abs=0.1)
        assert send_deadline(1) == pytest.approx(now + 1, abs=0.1)
    with lambda_context(object()):  # a context without the method: the setting alone
        assert send_deadline(10) == pytest.approx(now + 10, abs=0.1)
    assert send_deadline(10) == pytest.approx(now + 10, abs=0.1)


@pytest.mark.django_db
@pytest.mark.usefixtures("keep_test_connection")
@pytest.mark.parametrize("entry_point", ["websocket_handler", "http_handler", "manage_handler"])
def test_a_send_made_inside_an_entry_point_ends_before_the_invocation_does(entry_point, monkeypatch):
    from infra import handlers
    from infra.invoke import LocalContext
    from websockets_app.messaging.deadlines import LAMBDA_MARGIN_SECONDS, send_deadline

    seen: list[float] = []

    def work(*args: object) -> dict:
        seen.append(send_deadline(30) - time.monotonic())
        return {"statusCode": 200, "exit_code": 0}

    if entry_point == "websocket_handler":
        # The deadline is set by the app's own handler, around the request it runs.
        from websockets_app.aws_lambda import handler as app_handler

        monkeypatch.setattr(app_handler, "make_wsgi_handler", lambda application: work)
        monkeypatch.setattr(handlers, "_websocket", app_handler.make_websocket_handler(handlers.application))
    else:
        monkeypatch.setattr(handlers, {"http_handler": "_http"}.get(entry_point, "run_command_line"), work)
    getattr(handlers, entry_point)({"manage": "check"}, LocalContext(timeout_seconds=5))

    [remaining] = seen
    assert remaining == pytest.approx(5 - LAMBDA_MARGIN_SECONDS, abs=0.2)
    assert send_deadline(30) - time.monotonic() == pytest.approx(30, abs=0.2)  # only within the invocation
