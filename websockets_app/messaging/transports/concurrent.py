"""Posting one message to many connections at once: SigV4-signed requests over pooled keep-alive connections.

A boto3 client spends about a millisecond of CPU per ``post_to_connection``, which caps a process near a thousand
messages a second however many threads it runs. Here each request is built and signed whole by
``sigv4.ConnectionSigner`` (the same signature botocore computes, at a tenth of the cost) and written over a
keep-alive connection from an ``http1.Pool``; ``tests/bench/fanout.py`` measures this against boto3 and against the
cheapest client that does the same work, side by side.

All network work runs on an event loop owned by this module, in a daemon thread. Callers are synchronous Django
code, so whether or not the calling thread runs an event loop of its own does not matter. Pools are bound to that
loop: one per endpoint, reused across calls and Lambda invocations. A forked child process starts over with a
loop and pools of its own.

A fixed set of workers pulls targets from one iterator; each keeps the connection it borrowed from post to post.
At most once: what a try saw is sorted by ``retry.judge``, which tries a post again only when it provably never
reached the endpoint (no connection could be made, throttling, or the request never left this process whole). A
connection lost after the request went out, a read timeout or the deadline cutting a post short leaves it
``unknown``; nothing here resends a POST on its own.
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

from websockets_app.messaging import aws_clients, retry
from websockets_app.messaging.results import Failure, SendResult, Target
from websockets_app.messaging.retry import CONNECTION_ERROR, CONNECTION_LOST, TIMEOUT, Outcome
from websockets_app.messaging.transports import MAX_ERROR_BODY_BYTES
from websockets_app.messaging.transports.http1 import (
    Answer,
    Connection,
    ConnectionLost,
    NotConnected,
    Pool,
    ReadTimeout,
)
from websockets_app.messaging.transports.pacing import SendPacer
from websockets_app.messaging.transports.sigv4 import ConnectionSigner

NO_CREDENTIALS = "NoCredentialsError"  # the name botocore gives the same problem
SOCKET_CONNECT_TIMEOUT_SECONDS = aws_clients.CONNECT_TIMEOUT_SECONDS
SOCKET_READ_TIMEOUT_SECONDS = aws_clients.READ_TIMEOUT_SECONDS

T = TypeVar("T")


class _SenderLoop:
    """An event loop in a daemon thread, and the connection pools that belong to it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.pools: dict[str, Pool] = {}
        self._pacer = SendPacer(None)
        self.thread = threading.Thread(target=self.loop.run_forever, name="websockets-sender", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self.thread:
            coroutine.close()
            raise RuntimeError("The sender cannot be called from its own event loop.")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def pool(self, endpoint: str, size: int) -> Pool:
        """The pool for an endpoint; replaced when the configured size changes. Runs on the loop."""
        pool = self.pools.get(endpoint)
        if pool is not None and pool.limit == size:
            return pool
        if pool is not None:
            pool.close()
        pool = Pool(
            endpoint,
            size,
            connect_timeout=SOCKET_CONNECT_TIMEOUT_SECONDS,
            read_timeout=SOCKET_READ_TIMEOUT_SECONDS,
            max_body=MAX_ERROR_BODY_BYTES,
        )
        self.pools[endpoint] = pool
        return pool

    def pacer(self, limit: int | None) -> SendPacer:
        """The process's pacer (kept across sends, so a throttled rate carries over); new when the cap changes."""
        if self._pacer.limit != limit:
            self._pacer = SendPacer(limit)
        return self._pacer

    async def close_pools(self) -> None:
        self._pacer = SendPacer(self._pacer.limit)  # a slowdown ends with the connections it was measured on
        pools, self.pools = self.pools, {}
        for pool in pools.values():
            pool.close()


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
    """Close the pooled connections and forget any slowdown (the loop thread stays; new pools are made on the
    next send).

    Runs at interpreter exit, so a management command or a test run ends with its connections closed.
    """
    with _lock:
        sender = _sender
    if sender is not None and sender.pid == os.getpid() and sender.thread.is_alive():
        sender.run(sender.close_pools())


class _Lane:
    """One worker's connection, kept from post to post (borrowed from its pool on first use, given back at the end);
    ``in_flight`` is True while a request is out: what the deadline cuts short."""

    __slots__ = ("connection", "in_flight")

    def __init__(self) -> None:
        self.connection: Connection | None = None
        self.in_flight = False

    async def connection_to(self, pool: Pool) -> Connection:
        connection = self.connection
        if connection is not None and connection.pool is pool and connection.usable:
            return connection
        self.give_back()
        self.connection = await pool.borrow()
        return self.connection

    def give_back(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.pool.give_back(connection)


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
    routes: dict[tuple[str, str], tuple[Pool, ConnectionSigner]] = {}
    for target in targets:
        key = (target.endpoint, target.region)
        if key not in routes:
            pool = sender.pool(target.endpoint, concurrency)
            routes[key] = (pool, ConnectionSigner(target.endpoint, target.region, credentials, payload_hash))

    result = SendResult()
    pending = iter(targets)

    # A fixed set of workers pulling from one iterator: no task per message, never more than `concurrency`
    # requests in flight, and a throttled worker backing off slows the whole send down, as it should.
    async def worker() -> None:
        lane = _Lane()
        try:
            for target in pending:
                pool, signer = routes[(target.endpoint, target.region)]
                try:
                    outcome, failure = await _post(lane, pool, signer, pacer, target, body, max_attempts)
                except asyncio.CancelledError:
                    cut = retry.deadline_reached(lane.in_flight)
                    message = "The send's deadline passed."
                    result.record(target.connection_id, cut.outcome, Failure(target.connection_id, cut.code, message))
                    raise
                result.record(target.connection_id, outcome, failure)
        finally:
            if lane.in_flight and lane.connection is not None:
                lane.connection.discard()  # cut short mid-request: its answer must not be read as the next one's
            lane.give_back()

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
    lane: _Lane,
    pool: Pool,
    signer: ConnectionSigner,
    pacer: SendPacer,
    target: Target,
    body: bytes,
    max_attempts: int,
) -> tuple[Outcome, Failure | None]:
    """Post to one target over the lane's connection, tried again as ``retry`` decides."""
    for attempt in range(1, max_attempts + 1):
        wait = pacer.delay()
        if wait:  # over the allowed rate: this post's turn comes later (no sleep call while under it)
            try:
                await asyncio.sleep(wait)
            except asyncio.CancelledError:
                pacer.refund()
                raise
        request = signer.request(target.connection_id, body)  # signed again on each try: the time is part of it
        verdict, message, status = await _try(lane, pool, request)
        lane.in_flight = False  # answered or failed: only a cancellation leaves it set
        if verdict.outcome == "throttled":
            pacer.throttled()
        delay = retry.next_delay(verdict, attempt, max_attempts)
        if delay is None:
            if verdict.outcome in ("sent", "gone"):
                return verdict.outcome, None
            return verdict.outcome, Failure(target.connection_id, verdict.code, message, status)
        await asyncio.sleep(delay)
    return "failed", None  # max_attempts < 1: nothing was tried


_SENT = retry.judge(200, "", body_written=True)


async def _try(lane: _Lane, pool: Pool, request: bytes) -> tuple[retry.Verdict, str, int | None]:
    """One post, and what ``retry.judge`` makes of it: ``(verdict, message, status)``."""
    try:
        connection = await lane.connection_to(pool)
    except NotConnected as exc:
        return retry.judge(None, CONNECTION_ERROR, body_written=False), str(exc), None
    lane.in_flight = True
    try:
        answer = await connection.request(request)
    except ConnectionLost as exc:
        return retry.judge(None, CONNECTION_LOST, body_written=exc.written), str(exc), None
    except ReadTimeout as exc:
        return retry.judge(None, TIMEOUT, body_written=True), str(exc), None
    if answer.status < 300:
        return _SENT, "", answer.status
    error_type, message = error_of(answer)
    return retry.judge(answer.status, error_type, body_written=True), message, answer.status


def error_of(answer: Answer) -> tuple[str, str]:
    """AWS's error type (from ``x-amzn-ErrorType`` or the JSON body) and message; the body was read only up to
    ``MAX_ERROR_BODY_BYTES``."""
    error_type = answer.error_type
    message = ""
    try:
        document = json.loads(answer.body) if answer.body and not answer.cut else None
    except ValueError:
        document = None
    if isinstance(document, dict):
        message = str(document.get("message") or document.get("Message") or "")
        if not error_type:
            error_type = str(document.get("__type") or document.get("code") or "").rsplit("#", 1)[-1]
    return error_type, message
