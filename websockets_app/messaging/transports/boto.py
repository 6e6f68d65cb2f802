"""The Management API through botocore: posts to a few connections, closing a connection and asking about one.

Used where one request at a time is all there is (a view replying to its own connection, ``close``, ``info``).
Sends to many connections go through ``transports.concurrent`` instead, which costs a tenth of the CPU per post.

botocore has per-read timeouts only, and reads every answer whole. The client's HTTP session is therefore
``BoundedSession``: a call made under ``_deadline`` has its socket shut down when the deadline passes (a server
trickling an answer cannot hold it longer), and answers are read up to ``MAX_ERROR_BODY_BYTES``.

At most once: what botocore reports is sorted by ``retry.judge``, which tries a call again only when no
connection could be made or the answer was throttling. A connection lost after the request went out (botocore's
``ConnectionClosedError``), a read timeout or the deadline leave a post ``unknown``; urllib3 is given no retries of
its own (``Retry(False)``).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from websockets_app.conf import ws_settings
from websockets_app.messaging import aws_clients, retry
from websockets_app.messaging.deadlines import send_deadline
from websockets_app.messaging.results import Failure, ManagementApiError, SendResult, Target
from websockets_app.messaging.retry import CONNECTION_ERROR, CONNECTION_LOST, TIMEOUT, Outcome
from websockets_app.messaging.transports import MAX_ERROR_BODY_BYTES

SERVICE = "apigatewaymanagementapi"


def client_for(endpoint: str, region: str) -> Any:
    """The cached boto3 client for one Management API endpoint, with a deadline-aware HTTP session."""
    client = aws_clients.client(SERVICE, region, endpoint, pool_size=ws_settings.SEND_CONCURRENCY)
    bounded = _bounded_session_class()
    if not isinstance(client._endpoint.http_session, bounded):
        bounded.adopt(client._endpoint.http_session)
    return client


class _Watchdog:
    """One daemon thread that shuts a connection's socket down when the deadline of the call using it passes.

    One thread for the process rather than a timer thread per call: arming and disarming cost a lock and a heap
    operation. Disarming holds the lock, so once ``disarm`` returns the socket is never touched again (it may
    go back to the pool and serve another call).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._count = 0
        self._pid = 0

    def arm(self, deadline: float, connection: Any) -> list[Any]:
        entry = [connection]  # emptied when disarmed
        with self._condition:
            if self._pid != os.getpid():  # first use, or a forked child: the parent's thread does not exist here
                self._pid, self._heap = os.getpid(), []
                threading.Thread(target=self._run, name="websockets-send-deadlines", daemon=True).start()
            self._count += 1
            heapq.heappush(self._heap, (deadline, self._count, entry))
            if self._heap[0][2] is entry:
                self._condition.notify()
        return entry

    def disarm(self, entry: list[Any]) -> None:
        with self._condition:
            entry.clear()

    def _run(self) -> None:
        with self._condition:
            while True:
                while self._heap and not self._heap[0][2]:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._condition.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._condition.wait(delay)
                    continue
                _, _, entry = heapq.heappop(self._heap)
                if entry:
                    _shut_down(entry[0])


def _shut_down(connection: Any) -> None:
    """The blocked read or write in the calling thread ends at once."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


_watchdog = _Watchdog()
# The deadline of the call running in this thread, and the watchdog entries that enforce it.
_local = threading.local()


@contextmanager
def _deadline(deadline: float) -> Iterator[None]:
    _local.deadline, _local.armed = deadline, []
    try:
        yield
    finally:
        for entry in _local.armed:
            _watchdog.disarm(entry)
        _local.deadline, _local.armed = None, []


class _DeadlineConnectionMixin:
    """A urllib3 connection whose socket is shut down when the deadline of the call using it passes."""

    timeout: Any

    def request(self, *args: Any, **kwargs: Any) -> Any:
        deadline = getattr(_local, "deadline", None)
        if deadline is not None:
            if isinstance(self.timeout, int | float):  # connecting, too, ends by the deadline
                self.timeout = min(self.timeout, max(deadline - time.monotonic(), 0.001))
            _local.armed.append(_watchdog.arm(deadline, self))
        return super().request(*args, **kwargs)  # type: ignore[misc]

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline = getattr(_local, "deadline", None)
        if deadline is not None and time.monotonic() >= deadline:
            # The watchdog has fired, maybe while this connection was still connecting and had no socket to shut
            # down: the read would wait for the read timeout. It ends now instead.
            _shut_down(self)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


def _pool_classes() -> dict[str, type]:
    from botocore.awsrequest import (
        AWSHTTPConnection,
        AWSHTTPConnectionPool,
        AWSHTTPSConnection,
        AWSHTTPSConnectionPool,
    )

    class DeadlineHTTPConnection(_DeadlineConnectionMixin, AWSHTTPConnection):
        pass

    class DeadlineHTTPSConnection(_DeadlineConnectionMixin, AWSHTTPSConnection):
        pass

    class DeadlineHTTPConnectionPool(AWSHTTPConnectionPool):
        ConnectionCls = DeadlineHTTPConnection

    class DeadlineHTTPSConnectionPool(AWSHTTPSConnectionPool):
        ConnectionCls = DeadlineHTTPSConnection

    return {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}


@functools.cache
def _bounded_session_class() -> Any:
    from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
    from botocore.httpsession import URLLib3Session
    from urllib3.exceptions import HTTPError as URLLib3Error
    from urllib3.exceptions import ReadTimeoutError as URLLib3ReadTimeoutError

    class BoundedSession(URLLib3Session):
        """botocore's HTTP session, reading at most ``MAX_ERROR_BODY_BYTES`` of an answer, within the deadline."""

        @classmethod
        def adopt(cls, session: URLLib3Session) -> None:
            """Turn a client's fresh session into this kind (its settings, pools and proxies stay as they are)."""
            session.__class__ = cls
            classes = _pool_classes()
            session._pool_classes_by_scheme = classes
            session._manager.pool_classes_by_scheme = classes
            for manager in session._proxy_managers.values():
                manager.pool_classes_by_scheme = classes

        def send(self, request: Any) -> Any:
            request.stream_output = True  # the body is read here, bounded, instead of whole by botocore
            response = super().send(request)
            raw = response.raw
            try:
                content = raw.read(MAX_ERROR_BODY_BYTES + 1)
            except URLLib3ReadTimeoutError as exc:
                raw.close()
                raise ReadTimeoutError(endpoint_url=request.url, error=exc) from exc
            except (URLLib3Error, OSError) as exc:
                raw.close()
                raise ConnectionClosedError(error=exc, request=request, endpoint_url=request.url) from exc
            if len(content) > MAX_ERROR_BODY_BYTES:
                raw.close()  # the connection is not reused: the rest of the answer is never read
                content = content[:MAX_ERROR_BODY_BYTES]
            response._content = content
            return response

    return BoundedSession


def _call(
    target: Target, operation: str, max_attempts: int, deadline: float | None = None, **params: Any
) -> tuple[Outcome, Any, Failure | None]:
    """Run one Management API operation, tried again as ``retry`` decides, until ``deadline``.

    Returns ``(outcome, response, failure)``: the response when the call succeeded ("sent"), a failure for any
    outcome but "sent" and "gone".
    """
    if deadline is None:
        deadline = send_deadline(ws_settings.SEND_TIMEOUT_SECONDS)
    client = client_for(target.endpoint, target.region)
    for attempt in range(1, max_attempts + 1):
        if time.monotonic() >= deadline:
            verdict, response, message, status = retry.deadline_reached(in_flight=False), None, "Not started.", None
        else:
            verdict, response, message, status = _try(client, operation, target, deadline, params)
        delay = retry.next_delay(verdict, attempt, max_attempts)
        if delay is None:
            if verdict.outcome in ("sent", "gone"):
                return verdict.outcome, response, None
            return verdict.outcome, None, Failure(target.connection_id, verdict.code, message, status)
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
    return "failed", None, None  # max_attempts < 1: nothing was tried


def _try(
    client: Any, operation: str, target: Target, deadline: float, params: dict[str, Any]
) -> tuple[retry.Verdict, Any, str, int | None]:
    """One call, and what ``retry.judge`` makes of it: ``(verdict, response, message, status)``."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    try:
        with _deadline(deadline):
            response = getattr(client, operation)(ConnectionId=target.connection_id, **params)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        error = exc.response.get("Error", {})
        # An answer without an error type gets its status as Code from botocore: that is no error type.
        error_type = "" if error.get("Code") == str(status) else error.get("Code") or ""
        verdict = retry.judge(status, error_type, body_written=True)
        return verdict, None, error.get("Message", ""), status
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        # No connection could be made: nothing reached API Gateway.
        return retry.judge(None, CONNECTION_ERROR, body_written=False), None, str(exc), None
    except (ConnectionClosedError, ReadTimeoutError) as exc:
        # The request went out: it may have been delivered.
        seen = TIMEOUT if isinstance(exc, ReadTimeoutError) else CONNECTION_LOST
        if time.monotonic() >= deadline:
            return retry.judge(None, seen, body_written=True, deadline_passed=True), None, "The deadline passed.", None
        return retry.judge(None, seen, body_written=True), None, str(exc), None
    except BotoCoreError as exc:
        return retry.judge(None, type(exc).__name__, body_written=True), None, str(exc), None
    return retry.judge(200, "", body_written=True), response, "", None


def post_each(targets: Iterable[Target], body: bytes, deadline: float) -> SendResult:
    """Post ``body`` to each target in turn (meant for one or a handful of connections), until ``deadline``."""
    result = SendResult()
    for target in targets:
        outcome, _, failure = _call(target, "post_to_connection", ws_settings.SEND_MAX_ATTEMPTS, deadline, Data=body)
        result.record(target.connection_id, outcome, failure)
    return result


def delete_connection(target: Target, deadline: float | None = None) -> bool:
    """Close the connection; False when it was already gone. Raises ``ManagementApiError`` otherwise.

    ``deadline`` (``time.monotonic()``) is the send deadline of a caller closing several; else one of its own.
    """
    outcome, _, failure = _call(target, "delete_connection", ws_settings.SEND_MAX_ATTEMPTS, deadline)
    if failure is not None:
        raise ManagementApiError(failure)
    return outcome == "sent"


def get_connection(target: Target) -> dict[str, Any] | None:
    """What API Gateway knows about the connection (connectedAt, identity, lastActiveAt); None when gone."""
    outcome, response, failure = _call(target, "get_connection", ws_settings.SEND_MAX_ATTEMPTS)
    if failure is not None:
        raise ManagementApiError(failure)
    if outcome == "gone":
        return None
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}
