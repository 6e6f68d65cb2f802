"""Posting one message to many connections at once: SigV4-signed requests over pooled aiohttp sessions.

A boto3 client spends about a millisecond of CPU per ``post_to_connection``, which caps a process near a thousand
messages a second however many threads it runs. Here each request is signed by ``sigv4.ConnectionSigner`` (the
same signature botocore computes, at a tenth of the cost) and sent by aiohttp over a pooled session;
``tests/bench/fanout.py`` measures this against boto3 side by side.

All network work runs on an event loop owned by this module, in a daemon thread. Callers are synchronous Django
code, so whether or not the calling thread runs an event loop of its own does not matter. aiohttp sessions are
bound to a loop: they live on that one, one per endpoint and region, reused across calls and Lambda invocations.
A forked child process starts over with a loop and sessions of its own.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import os
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from websockets_app import aws
from websockets_app.delivery import (
    CONNECTION_ERROR,
    TIMEOUT,
    Delivery,
    Failure,
    Outcome,
    Target,
    backoff_delay,
    classify,
)
from websockets_app.sigv4 import ConnectionSigner

NO_CREDENTIALS = "NoCredentialsError"  # the name botocore gives the same problem
SOCKET_CONNECT_TIMEOUT_SECONDS = aws.CONNECT_TIMEOUT_SECONDS
SOCKET_READ_TIMEOUT_SECONDS = aws.READ_TIMEOUT_SECONDS

T = TypeVar("T")


class _SenderLoop:
    """An event loop in a daemon thread, and the aiohttp sessions that belong to it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.sessions: dict[tuple[str, str], tuple[int, aiohttp.ClientSession]] = {}
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
        )
        self.sessions[(endpoint, region)] = (pool_size, session)
        return session

    async def close_sessions(self) -> None:
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


def deliver(targets: Sequence[Target], body: bytes, *, concurrency: int, max_attempts: int) -> Delivery:
    """Post ``body`` to every target with at most ``concurrency`` requests in flight; blocks until all are done."""
    if not targets:
        return Delivery()
    credentials = aws.frozen_credentials()
    if credentials is None:
        delivery = Delivery()
        message = "No AWS credentials were found (environment, config files or the Lambda role)."
        delivery.failed = [Failure(target.connection_id, NO_CREDENTIALS, message) for target in targets]
        return delivery
    sender = _sender_loop()
    return sender.run(_deliver(sender, targets, body, credentials, concurrency, max_attempts))


def shutdown() -> None:
    """Close the pooled sessions (the loop thread stays; new sessions are made on the next send).

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
) -> Delivery:
    payload_hash = hashlib.sha256(body).hexdigest()
    clients: dict[tuple[str, str], tuple[aiohttp.ClientSession, ConnectionSigner]] = {}
    for target in targets:
        key = (target.endpoint, target.region)
        if key not in clients:
            session = await sender.session(target.endpoint, target.region, concurrency)
            clients[key] = (session, ConnectionSigner(target.endpoint, target.region, credentials, payload_hash))

    delivery = Delivery()
    pending = iter(targets)

    # A fixed set of workers pulling from one iterator: no task per message, never more than `concurrency`
    # requests in flight, and a throttled worker backing off slows the whole send down, as it should.
    async def worker() -> None:
        for target in pending:
            session, signer = clients[(target.endpoint, target.region)]
            outcome, failure = await _post(session, signer, target, body, max_attempts)
            delivery.record(target.connection_id, outcome, failure)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(targets)))))
    return delivery


async def _post(
    session: aiohttp.ClientSession, signer: ConnectionSigner, target: Target, body: bytes, max_attempts: int
) -> tuple[Outcome, Failure | None]:
    failure: Failure | None = None
    for attempt in range(1, max_attempts + 1):
        url, headers = signer.sign(target.connection_id)  # signed again on each try: the time is part of it
        try:
            async with session.post(URL(url, encoded=True), data=body, headers=headers) as response:
                if response.status < 300:
                    return "sent", None
                error_type, message = await _error_of(response)
                outcome = classify(response.status, error_type)
                if outcome == "gone":
                    return "gone", None
                failure = Failure(
                    target.connection_id, error_type or f"HTTP{response.status}", message, response.status
                )
                if outcome != "throttled":
                    return "failed", failure
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, aiohttp.ConnectionTimeoutError) as exc:
            # Nothing was answered (or a pooled connection had gone stale): safe to send again.
            failure = Failure(target.connection_id, CONNECTION_ERROR, str(exc) or type(exc).__name__)
        except TimeoutError:
            # The request may have been delivered; repeating it could deliver twice.
            return "failed", Failure(target.connection_id, TIMEOUT, "No answer in time.")
        except aiohttp.ClientError as exc:
            return "failed", Failure(target.connection_id, type(exc).__name__, str(exc))
        if attempt < max_attempts:
            await asyncio.sleep(backoff_delay(attempt))
    return "failed", failure


async def _error_of(response: aiohttp.ClientResponse) -> tuple[str, str]:
    """AWS's error type (from ``x-amzn-ErrorType`` or the JSON body) and message."""
    error_type = response.headers.get("x-amzn-ErrorType", "").split(":", 1)[0]
    message = ""
    try:
        document = await response.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        document = None
    if isinstance(document, dict):
        message = str(document.get("message") or document.get("Message") or "")
        if not error_type:
            error_type = str(document.get("__type") or document.get("code") or "").rsplit("#", 1)[-1]
    return error_type, message
