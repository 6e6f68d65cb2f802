"""Posting one message to many connections at once: SigV4-signed requests over pooled aiohttp sessions.

A boto3 client spends about a millisecond of CPU per ``post_to_connection``, which caps a process near a thousand
messages a second however many threads it runs. Here each request is signed by ``sigv4.ConnectionSigner`` (the
same signature botocore computes, at a tenth of the cost) and sent by aiohttp over a pooled session;
``tests/bench/fanout.py`` measures this against boto3 side by side.

All network work runs on an event loop owned by this module, in a daemon thread. Callers are synchronous Django
code, so whether or not the calling thread runs an event loop of its own does not matter. aiohttp sessions are
bound to a loop: they live on that one, one per endpoint and region, reused across calls and Lambda invocations.
A forked child process starts over with a loop and sessions of its own.

At most once: what aiohttp reports is sorted by ``retry.judge``, which tries a post again only when it provably
never reached the endpoint (no connection could be made, throttling, or the request body could not be written).
A connection lost after the request went out, a read timeout or the deadline cutting a post short leaves it
``unknown``. aiohttp itself never resends a POST on a stale pooled connection (it retries only idempotent
methods, ``aiohttp.client.IDEMPOTENT_METHODS``).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import os
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from websockets_app.messaging import aws_clients, retry
from websockets_app.messaging.results import Failure, SendResult, Target
from websockets_app.messaging.retry import CONNECTION_ERROR, CONNECTION_LOST, TIMEOUT, Outcome
from websockets_app.messaging.transports import MAX_ERROR_BODY_BYTES
from websockets_app.messaging.transports.pacing import SendPacer
from websockets_app.messaging.transports.sigv4 import ConnectionSigner

NO_CREDENTIALS = "NoCredentialsError"  # the name botocore gives the same problem
SOCKET_CONNECT_TIMEOUT_SECONDS = aws_clients.CONNECT_TIMEOUT_SECONDS
SOCKET_READ_TIMEOUT_SECONDS = aws_clients.READ_TIMEOUT_SECONDS

T = TypeVar("T")


class _SenderLoop:
    """An event loop in a daemon thread, and the aiohttp sessions that belong to it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.sessions: dict[tuple[str, str], tuple[int, aiohttp.ClientSession]] = {}
        self._pacer = SendPacer(None)
        self.thread = threading.Thread(target=self.loop.run_forever, name="websockets-sender", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self.thread:
            coroutine.close()
            raise RuntimeError("The sender cannot be called from its own event loop.")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def session(self, endpoint: str, region: str, pool_size: int) -> aiohttp.ClientSession:
        """The pooled session for an endpoint; replaced when the configured pool size changes."""
        cached = self.sessions.get((endpoint, region))
        if cached is not None and cached[0] == pool_size and not cached[1].closed:
            return cached[1]
        if cached is not None:
            await cached[1].close()
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size, limit_per_host=pool_size, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(
                sock_connect=SOCKET_CONNECT_TIMEOUT_SECONDS, sock_read=SOCKET_READ_TIMEOUT_SECONDS
            ),
            # API Gateway needs none of these; leaving them out saves work on every request.
            skip_auto_headers=("Content-Type", "User-Agent", "Accept", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar(),  # the Management API sets no cookies: none to look up or store
            auto_decompress=False,  # its answers are small JSON, never compressed
        )
        self.sessions[(endpoint, region)] = (pool_size, session)
        return session

    def pacer(self, limit: int | None) -> SendPacer:
        """The process's pacer (kept across sends, so a throttled rate carries over); new when the cap changes."""
        if self._pacer.limit != limit:
            self._pacer = SendPacer(limit)
        return self._pacer

    async def close_sessions(self) -> None:
        self._pacer = SendPacer(self._pacer.limit)  # a slowdown ends with the sessions it was measured on
        sessions, self.sessions = self.sessions, {}
        for _, session in sessions.values():
            await session.close()


_lock = threading.Lock()
_sender: _SenderLoop | None = None


def _sender_loop() -> _SenderLoop:
    global _sender
    with _lock:
        if _sender is None or _sender.pid != os.getpid():
            # In a forked child the old loop's thread does not exist; its sessions belong to the parent.
            _sender = _SenderLoop()
            atexit.register(shutdown)
        return _sender


def deliver(
    targets: Sequence[Target],
    body: bytes,
    *,
    concurrency: int,
    max_attempts: int,
    deadline: float,
    rate_limit: int | None = None,
) -> SendResult:
    """Post ``body`` to every target with at most ``concurrency`` requests in flight and at most ``rate_limit``
    posts a second in this process (None: no cap; either way slower after API Gateway throttles, see
    ``pacing``); blocks until all are done or until ``deadline`` (a ``time.monotonic()`` value): posts cut short
    then are ``unknown``, posts never started are failed, both with the code ``DeadlineExceeded``."""
    if not targets:
        return SendResult()
    credentials = aws_clients.frozen_credentials()
    if credentials is None:
        result = SendResult()
        message = "No AWS credentials were found (environment, config files or the Lambda role)."
        result.failed = [Failure(target.connection_id, NO_CREDENTIALS, message) for target in targets]
        return result
    sender = _sender_loop()
    pacer = sender.pacer(rate_limit)
    return sender.run(_deliver(sender, targets, body, credentials, concurrency, max_attempts, deadline, pacer))


def shutdown() -> None:
    """Close the pooled sessions and forget any slowdown (the loop thread stays; new sessions are made on the
    next send).

    Runs at interpreter exit, so a management command or a test run ends without unclosed-session warnings.
    """
    with _lock:
        sender = _sender
    if sender is not None and sender.pid == os.getpid() and sender.thread.is_alive():
        sender.run(sender.close_sessions())


async def _deliver(
    sender: _SenderLoop,
    targets: Sequence[Target],
    body: bytes,
    credentials: Any,
    concurrency: int,
    max_attempts: int,
    deadline: float,
    pacer: SendPacer,
) -> SendResult:
    payload_hash = hashlib.sha256(body).hexdigest()
    clients: dict[tuple[str, str], tuple[aiohttp.ClientSession, ConnectionSigner]] = {}
    for target in targets:
        key = (target.endpoint, target.region)
        if key not in clients:
            session = await sender.session(target.endpoint, target.region, concurrency)
            clients[key] = (session, ConnectionSigner(target.endpoint, target.region, credentials, payload_hash))

    result = SendResult()
    pending = iter(targets)

    # A fixed set of workers pulling from one iterator: no task per message, never more than `concurrency`
    # requests in flight, and a throttled worker backing off slows the whole send down, as it should.
    async def worker() -> None:
        for target in pending:
            session, signer = clients[(target.endpoint, target.region)]
            in_flight = [False]  # set by _post while a request is out: what the deadline cuts short
            try:
                outcome, failure = await _post(session, signer, pacer, target, body, max_attempts, in_flight)
            except asyncio.CancelledError:
                cut = retry.deadline_reached(in_flight[0])
                message = "The send's deadline passed."
                result.record(target.connection_id, cut.outcome, Failure(target.connection_id, cut.code, message))
                raise
            result.record(target.connection_id, outcome, failure)

    # asyncio.timeout_at uses the loop's clock, which is time.monotonic().
    loop_deadline = asyncio.get_running_loop().time() + (deadline - time.monotonic())
    try:
        async with asyncio.timeout_at(loop_deadline):
            await asyncio.gather(*(worker() for _ in range(min(concurrency, len(targets)))))
    except TimeoutError:
        never_started = retry.deadline_reached(in_flight=False)
        for target in pending:  # nothing was sent
            failure = Failure(target.connection_id, never_started.code, "Not started.")
            result.record(target.connection_id, never_started.outcome, failure)
    return result


async def _post(
    session: aiohttp.ClientSession,
    signer: ConnectionSigner,
    pacer: SendPacer,
    target: Target,
    body: bytes,
    max_attempts: int,
    in_flight: list[bool],
) -> tuple[Outcome, Failure | None]:
    """Post to one target, tried again as ``retry`` decides; ``in_flight[0]`` is True while a request is out."""
    for attempt in range(1, max_attempts + 1):
        wait = pacer.delay()
        if wait:  # over the allowed rate: this post's turn comes later (no sleep call while under it)
            try:
                await asyncio.sleep(wait)
            except asyncio.CancelledError:
                pacer.refund()
                raise
        url, headers = signer.sign(target.connection_id)  # signed again on each try: the time is part of it
        in_flight[0] = True
        verdict, message, status = await _try(session, url, headers, body)
        if verdict.outcome == "throttled":
            pacer.throttled()
        delay = retry.next_delay(verdict, attempt, max_attempts)
        if delay is None:
            if verdict.outcome in ("sent", "gone"):
                return verdict.outcome, None
            return verdict.outcome, Failure(target.connection_id, verdict.code, message, status)
        in_flight[0] = False
        await asyncio.sleep(delay)
    return "failed", None  # max_attempts < 1: nothing was tried


async def _try(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes
) -> tuple[retry.Verdict, str, int | None]:
    """One post, and what ``retry.judge`` makes of it: ``(verdict, message, status)``."""
    try:
        async with session.post(URL(url, encoded=True), data=body, headers=headers) as response:
            if response.status < 300:
                return retry.judge(response.status, "", body_written=True), "", response.status
            error_type, message = await _error_of(response)
            return retry.judge(response.status, error_type, body_written=True), message, response.status
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        # No connection was made: nothing was sent.
        return retry.judge(None, CONNECTION_ERROR, body_written=False), str(exc) or type(exc).__name__, None
    except aiohttp.ClientOSError as exc:
        # Either the request never went out whole, or the connection broke after it did.
        written = not _body_not_written(exc)
        return retry.judge(None, CONNECTION_LOST, body_written=written), str(exc) or type(exc).__name__, None
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
        # The request went out and the answer never came whole.
        return retry.judge(None, CONNECTION_LOST, body_written=True), str(exc) or type(exc).__name__, None
    except TimeoutError:
        return retry.judge(None, TIMEOUT, body_written=True), "No answer in time.", None
    except aiohttp.ClientError as exc:
        return retry.judge(None, type(exc).__name__, body_written=True), str(exc), None


def _body_not_written(exc: aiohttp.ClientOSError) -> bool:
    """True when aiohttp failed writing the request (its ``write_bytes`` names it so): never sent whole."""
    # aiohttp raises ClientOSError(errno, text): str() then starts with "[Errno n]", the text is its strerror.
    return (exc.strerror or str(exc)).startswith("Can not write request body")


async def _error_of(response: aiohttp.ClientResponse) -> tuple[str, str]:
    """AWS's error type (from ``x-amzn-ErrorType`` or the JSON body) and message.

    At most ``MAX_ERROR_BODY_BYTES`` of the body are read; a longer one is cut (and its connection not reused).
    """
    error_type = response.headers.get("x-amzn-ErrorType", "").split(":", 1)[0]
    message = ""
    text = bytearray()
    try:
        while len(text) < MAX_ERROR_BODY_BYTES and (chunk := await response.content.read(MAX_ERROR_BODY_BYTES)):
            text += chunk
    except aiohttp.ClientError:
        pass
    if len(text) > MAX_ERROR_BODY_BYTES or not response.content.at_eof():
        response.close()  # the unread rest stays on the server's side
    try:
        document = json.loads(bytes(text[:MAX_ERROR_BODY_BYTES]))
    except ValueError:
        document = None
    if isinstance(document, dict):
        message = str(document.get("message") or document.get("Message") or "")
        if not error_type:
            error_type = str(document.get("__type") or document.get("code") or "").rsplit("#", 1)[-1]
    return error_type, message
