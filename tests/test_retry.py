"""One decision table for both transports: each row is played to the botocore transport (an answer or an error
raised where botocore sends the request) and to the concurrent one (the same, where aiohttp sends it), and both
must come to the table's outcome, failure code and number of tries."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import aiohttp
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError, SSLError

from websockets_app.messaging import retry
from websockets_app.messaging.results import SendResult, Target
from websockets_app.messaging.transports import boto, concurrent
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


class _Content:
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def read(self, size: int) -> bytes:
        chunk, self.body = self.body[:size], self.body[size:]
        return chunk

    def at_eof(self) -> bool:
        return not self.body


class _Response:
    def __init__(self, status: int, error_type: str) -> None:
        self.status = status
        self.headers = {"x-amzn-ErrorType": error_type} if error_type else {}
        self.content = _Content(_answer_body(error_type))

    def close(self) -> None:
        pass


class _Post:
    def __init__(self, seen: tuple) -> None:
        self.seen = seen

    async def __aenter__(self) -> _Response:
        status, error_type, written = self.seen
        if status is not None:
            return _Response(status, error_type)
        if not written:  # as aiohttp's write_bytes reports a failed write
            raise aiohttp.ClientOSError(32, "Can not write request body for https://abc123.test/")
        if error_type == retry.CONNECTION_LOST:
            raise aiohttp.ServerDisconnectedError()
        if error_type == retry.TIMEOUT:
            raise TimeoutError
        raise aiohttp.InvalidURL("library error")

    async def __aexit__(self, *exc_info: object) -> None:
        pass


class _Session:
    """Stands where the pooled aiohttp session sends: each post is answered (or fails) as the row says."""

    def __init__(self, seen: tuple) -> None:
        self.seen = seen
        self.tries = 0

    def post(self, url: object, data: bytes, headers: dict[str, str]) -> _Post:
        self.tries += 1
        return _Post(self.seen)


def play_to_concurrent(seen: tuple) -> tuple[SendResult, int]:
    credentials = SimpleNamespace(access_key="AKIDEXAMPLE", secret_key="secret", token=None)
    signer = ConnectionSigner(ENDPOINT, REGION, credentials, "0" * 64)
    session = _Session(seen)
    target = Target("c1", ENDPOINT, REGION)
    outcome, failure = asyncio.run(concurrent._post(session, signer, SendPacer(None), target, b"x", ATTEMPTS, [False]))  # type: ignore[arg-type]
    result = SendResult()
    result.record(target.connection_id, outcome, failure)
    return result, session.tries


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
    library_error = {"library error": {"boto": "SSLError", "concurrent": "InvalidURL"}}
    for transport, (result, tried) in {
        "boto": play_to_boto(seen, monkeypatch),
        "concurrent": play_to_concurrent(seen),
    }.items():
        expected_code = library_error.get(code, {}).get(transport, code)
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
