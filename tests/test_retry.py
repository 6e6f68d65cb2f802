"""One decision table for both transports: each row is played to the botocore transport (an answer or an error
raised where botocore sends the request) and to the concurrent one (the same, where a pooled connection sends
it), and both must come to the table's outcome, failure code and number of tries."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError, SSLError

from websockets_app.messaging import retry
from websockets_app.messaging.results import SendResult, Target
from websockets_app.messaging.transports import boto, concurrent, http1
from websockets_app.messaging.transports.pacing import SendPacer
from websockets_app.messaging.transports.sigv4 import ConnectionSigner

ENDPOINT = "https://abc123.execute-api.eu-west-1.amazonaws.com/production"
REGION = "eu-west-1"
ATTEMPTS = 3

# What a try saw (status or None, error type, whether the request went out whole) -> what the table decides:
# (outcome, failure code, tries). No answer is played to each transport as its own library's error.
TABLE = [
    ((200, "", True), ("sent", "", 1)),
    ((410, "GoneException", True), ("gone", "", 1)),
    ((403, "ForbiddenException", True), ("gone", "", 1)),
    ((403, "AccessDeniedException", True), ("failed", "AccessDeniedException", 1)),
    ((429, "LimitExceededException", True), ("throttled", "LimitExceededException", ATTEMPTS)),
    ((400, "TooManyRequestsException", True), ("throttled", "TooManyRequestsException", ATTEMPTS)),
    ((500, "InternalServerErrorException", True), ("failed", "InternalServerErrorException", 1)),
    ((502, "", True), ("failed", "HTTP502", 1)),
    ((None, retry.CONNECTION_ERROR, False), ("failed", retry.CONNECTION_ERROR, ATTEMPTS)),
    ((None, retry.CONNECTION_LOST, True), ("unknown", retry.CONNECTION_LOST, 1)),
    ((None, retry.TIMEOUT, True), ("unknown", retry.TIMEOUT, 1)),
    ((None, "library error", True), ("failed", "library error", 1)),
]
IDS = [
    f"{status}-{error_type or 'none'}-{'written' if written else 'unwritten'}"
    for (status, error_type, written), _ in TABLE
]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self):
        yield self.body


def _answer_body(error_type: str) -> bytes:
    return b'{"message":"from the table"}' if error_type else b""


def play_to_boto(seen: tuple, monkeypatch) -> tuple[SendResult, int]:
    """botocore's client sends nothing: its before-send hook answers or raises, as the network would."""
    status, error_type, written = seen
    client = boto.client_for(ENDPOINT, REGION)
    tries = []

    def answer(request, **kwargs):
        tries.append(request)
        if status is not None:
            headers = {"x-amzn-ErrorType": error_type} if error_type else {}
            return AWSResponse(request.url, status, headers, _Raw(_answer_body(error_type)))
        if not written:
            raise EndpointConnectionError(endpoint_url=request.url)
        if error_type == retry.CONNECTION_LOST:
            raise ConnectionClosedError(endpoint_url=request.url)
        if error_type == retry.TIMEOUT:
            raise ReadTimeoutError(endpoint_url=request.url)
        raise SSLError(endpoint_url=request.url, error="library error")

    event = "before-send.apigatewaymanagementapi.PostToConnection"
    client.meta.events.register(event, answer)
    try:
        result = boto.post_each([Target("c1", ENDPOINT, REGION)], b"x", time.monotonic() + 10)
    finally:
        client.meta.events.unregister(event, answer)
    return result, len(tries)


class _Connection:
    """Stands where a pooled connection sends: each request is answered (or fails) as the row says."""

    usable = True

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool

    def request(self, data: bytes) -> asyncio.Future[http1.Answer]:
        status, error_type, written = self.pool.seen
        self.pool.tries += 1
        answer: asyncio.Future[http1.Answer] = asyncio.get_running_loop().create_future()
        if status is not None:
            answer.set_result(http1.Answer(status, error_type, _answer_body(error_type)))
        elif not written:  # the connection broke with the request still in this process's buffer
            answer.set_exception(http1.ConnectionLost("reset", written=False))
        elif error_type == retry.CONNECTION_LOST:
            answer.set_exception(http1.ConnectionLost("reset", written=True))
        else:
            answer.set_exception(http1.ReadTimeout("No answer in time."))
        return answer


class _Pool:
    def __init__(self, seen: tuple) -> None:
        self.seen = seen
        self.tries = 0

    async def borrow(self) -> _Connection:
        return _Connection(self)

    def give_back(self, connection: _Connection) -> None:
        pass


def play_to_concurrent(seen: tuple) -> tuple[SendResult, int]:
    credentials = SimpleNamespace(access_key="AKIDEXAMPLE", secret_key="secret", token=None)
    signer = ConnectionSigner(ENDPOINT, REGION, credentials, "0" * 64)
    pool = _Pool(seen)
    target = Target("c1", ENDPOINT, REGION)
    lane = concurrent._Lane()
    outcome, failure = asyncio.run(concurrent._post(lane, pool, signer, SendPacer(None), target, b"x", ATTEMPTS))  # type: ignore[arg-type]
    result = SendResult()
    result.record(target.connection_id, outcome, failure)
    return result, pool.tries


def outcome_of(result: SendResult) -> tuple[str, str]:
    for name in ("sent", "gone"):
        if getattr(result, name):
            return name, ""
    [failure] = result.failed or result.unknown
    return ("unknown" if result.unknown else "failed"), failure.code


@pytest.mark.parametrize(("seen", "decided"), TABLE, ids=IDS)
def test_the_table_decides_each_try(seen, decided):
    status, error_type, written = seen
    verdict = retry.judge(status, error_type, body_written=written)
    outcome, code, tries = decided
    assert (verdict.outcome, verdict.code, verdict.retry) == (outcome, code, tries > 1)


@pytest.mark.parametrize(("seen", "decided"), TABLE, ids=IDS)
def test_both_transports_come_to_the_tables_outcome(
    seen, decided, settings, aws_credentials, fast_backoff, monkeypatch
):
    settings.WEBSOCKETS = {"SEND_MAX_ATTEMPTS": ATTEMPTS, "AWS_REGION": REGION}
    outcome, code, tries = decided
    # A "throttled" that outlasts the attempts is reported as failed, like every outcome other than these.
    reported = outcome if outcome in ("sent", "gone", "unknown") else "failed"
    plays = {"boto": play_to_boto(seen, monkeypatch)}
    # A library's own error is botocore's alone: without an answer, the concurrent transport sees only a refused
    # connection, a lost one (written or not) or a read timeout.
    if code != "library error":
        plays["concurrent"] = play_to_concurrent(seen)
    for transport, (result, tried) in plays.items():
        expected_code = "SSLError" if code == "library error" else code
        assert (outcome_of(result), tried) == ((reported, expected_code), tries), transport


@pytest.mark.parametrize("in_flight", [False, True], ids=["not-started", "cut-short"])
def test_a_deadline_fails_what_never_started_and_leaves_unknown_what_it_cut(in_flight):
    verdict = retry.deadline_reached(in_flight)
    assert (verdict.outcome, verdict.code, verdict.retry) == (
        "unknown" if in_flight else "failed",
        retry.DEADLINE_EXCEEDED,
        False,
    )


def test_a_lost_answer_after_the_deadline_is_reported_as_the_deadline():
    verdict = retry.judge(None, retry.TIMEOUT, body_written=True, deadline_passed=True)
    assert (verdict.outcome, verdict.code) == ("unknown", retry.DEADLINE_EXCEEDED)


def test_both_transports_start_nothing_once_the_deadline_has_passed(settings, aws_credentials, management_stub):
    targets = [Target(f"live-{n}", management_stub.url, REGION) for n in range(2)]
    past = time.monotonic() - 1
    by_boto = boto.post_each(targets[:1], b"x", past)
    by_concurrent = concurrent.deliver(targets, b"x", concurrency=2, max_attempts=ATTEMPTS, deadline=past)
    for result in (by_boto, by_concurrent):
        assert result.sent == []
        assert result.unknown == []
        assert {(f.code, f.message) for f in result.failed} == {(retry.DEADLINE_EXCEEDED, "Not started.")}
    assert management_stub.stub.requests == []


def test_retries_stop_at_the_last_attempt_and_back_off_in_between():
    throttled = retry.judge(429, "LimitExceededException", body_written=True)
    assert retry.next_delay(throttled, 1, 3) is not None
    assert retry.next_delay(throttled, 3, 3) is None
    assert retry.next_delay(retry.judge(500, "", body_written=True), 1, 3) is None
