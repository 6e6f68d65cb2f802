"""Keep-alive HTTP/1.1 connections for the concurrent transport: one request at a time per connection, the answer
parsed by httptools (llhttp, the parser uvicorn uses).

Hand-rolled on ``asyncio.Protocol`` because aiohttp's client request and response path was about 80% of a post's
CPU (cProfile, docs/performance.md): here a post is one write of bytes built by the signer and one parse of the
answer, the same work as the benchmark's floor client. What the retry table needs is read from the protocol itself:

* ``NotConnected``: no connection could be made (refused, unreachable, name lookup, TLS handshake, timeout), so
  nothing was sent;
* ``ConnectionLost``: the connection broke before the whole answer came; ``written`` says whether the whole
  request had left this process (the transport's write buffer had drained) - if not, the server cannot have it;
* ``ReadTimeout``: nothing arrived for ``read_timeout`` seconds while an answer was awaited.

A POST is never sent again on another connection by this module; ``retry.judge`` decides that from the above.
Loop-confined: a ``Pool`` and its connections are used from the event loop they were made on only.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

from websockets_app.messaging.transports.sigv4 import DEFAULT_PORTS

# A pooled connection unused this long is closed instead of reused: the server may be about to close it, and a
# request written as it does would be lost with an unknown outcome. aiohttp's default, which this replaced.
KEEPALIVE_SECONDS = 15.0
# Name lookups are cached this long per pool (new connections then connect by address).
DNS_CACHE_SECONDS = 300.0
# An answer's status line and headers may take this many bytes (API Gateway's take a few hundred): a server that
# sends more is not read any further, so a misconfigured or hostile endpoint cannot make this process hold them.
MAX_HEAD_BYTES = 64 * 1024
_ERROR_TYPE_HEADER = b"x-amzn-errortype"


class NotConnected(Exception):
    """No connection could be made: nothing was sent."""


class ConnectionLost(Exception):
    """The connection broke before the whole answer came."""

    def __init__(self, message: str, *, written: bool) -> None:
        super().__init__(message)
        self.written = written  # the whole request had left this process: it may have arrived


class ReadTimeout(Exception):
    """Nothing arrived for the read timeout while an answer was awaited."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: its status, the ``x-amzn-ErrorType`` header ("" if none) and at most ``max_body`` bytes of
    its body (``cut`` when there was more; the rest was never read)."""

    status: int
    error_type: str
    body: bytes
    cut: bool = False


@functools.cache
def default_tls_context() -> ssl.SSLContext:
    """Certificates verified against the bundle botocore uses (``AWS_CA_BUNDLE`` when set), so both transports
    trust the same authorities. Made once per process: loading the bundle takes milliseconds."""
    from botocore.httpsession import where

    return ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or where())


class Connection(asyncio.Protocol):
    """One keep-alive connection; ``request()`` writes a whole request and returns a future for its answer."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reusable = True
        self.idle_since = 0.0
        self.waiter: asyncio.Future[Answer] | None = None
        self.flushed = True  # the write buffer is empty: what was written has left this process
        self.last_read = 0.0
        self.timer: asyncio.TimerHandle | None = None
        # The answer being read.
        self.error_type = ""
        self.body = b""
        self.cut = False
        self.headers_done = False
        self.head_bytes = 0  # read while the headers were not yet complete

    # -- asyncio.Protocol ---------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast("asyncio.Transport", transport)
        # Paused as soon as anything stays buffered, resumed when the buffer is empty: ``flushed`` then says
        # whether a request left this process whole when the connection breaks.
        transport.set_write_buffer_limits(high=0)

    def pause_writing(self) -> None:
        self.flushed = False

    def resume_writing(self) -> None:
        self.flushed = True

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # nothing was asked: a server that talks out of turn is not trusted again
            self.discard()
            return
        self.last_read = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionLost(f"The answer could not be parsed: {exc}", written=True))
            self.discard()
            return
        if not self.headers_done:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self._fail(ConnectionLost("The answer's headers are too long.", written=True))
                self.discard()
                return
        if self.cut and self.waiter is not None:  # the body is longer than wanted: stop reading it
            self.reusable = False
            self._answer()  # and, not reusable, the connection is closed

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.waiter is None:
            return
        if self.headers_done:
            # The status line and headers came: the server has decided, whatever became of the body.
            self.reusable = False
            self._answer()
            return
        reason = f" ({exc})" if exc else ""
        self._fail(ConnectionLost(f"The connection closed before the answer came{reason}.", written=self.flushed))

    # -- httptools callbacks ------------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.waiter is None:  # a second answer in the same bytes: nothing asked for it
            self.reusable = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == len(_ERROR_TYPE_HEADER) and name.lower() == _ERROR_TYPE_HEADER:
            self.error_type = value.decode("latin-1").split(":", 1)[0].strip()

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        room = self.pool.max_body - len(self.body)
        if len(body) > room:
            self.body += body[:room]
            self.cut = True
        else:
            self.body += body

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.reusable = False
        self._answer()

    # -- requests -----------------------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Open, with no request under way, and nothing seen that forbids another request on it."""
        return (
            not self.closed
            and self.reusable
            and self.waiter is None
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def request(self, data: bytes) -> asyncio.Future[Answer]:
        """Write one whole request; the future gets its ``Answer`` or one of this module's errors."""
        transport = self.transport
        if transport is None or self.waiter is not None:
            raise RuntimeError("A request needs an open connection with no other request under way.")
        self.waiter = waiter = self.loop.create_future()
        self.error_type, self.body, self.cut, self.headers_done, self.head_bytes = "", b"", False, False, 0
        self.last_read = self.loop.time()
        transport.write(data)
        if self.timer is None:  # one timer per connection, re-armed only when it fires: none per request
            self.timer = self.loop.call_at(self.last_read + self.pool.read_timeout, self._check_read)
        return waiter

    def discard(self) -> None:
        """Close at once, whatever was under way (an unanswered request's connection cannot be reused)."""
        self.reusable = False
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def _check_read(self) -> None:
        self.timer = None
        if self.waiter is None or self.closed:
            return
        due = self.last_read + self.pool.read_timeout
        if self.loop.time() >= due:
            self._fail(ReadTimeout("No answer in time."))
            self.discard()
        else:
            self.timer = self.loop.call_at(due, self._check_read)

    def _answer(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Answer(self.parser.get_status_code(), self.error_type, self.body, self.cut))
        if not self.reusable:
            self.discard()

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        self.reusable = False
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class Pool:
    """Keep-alive connections to one endpoint (``scheme://host[:port]``), at most ``limit`` of them lent out at
    once; a borrower waits for a free one."""

    def __init__(
        self,
        endpoint: str,
        limit: int,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_body: int,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"Not an http(s) endpoint: {endpoint!r}")
        self.loop = asyncio.get_running_loop()
        self.host = parts.hostname
        self.port = parts.port or DEFAULT_PORTS[parts.scheme]
        self.tls = (tls or default_tls_context()) if parts.scheme == "https" else None
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_body = max_body
        self.slots = asyncio.Semaphore(limit)
        self.idle: list[Connection] = []
        self.lent: set[Connection] = set()
        self._addresses: list[tuple[str, int]] = []
        self._resolved_until = 0.0
        self._next_address = 0

    async def borrow(self) -> Connection:
        """An idle connection (the most recently used) or a new one, once fewer than ``limit`` are lent out;
        ``NotConnected`` if none could be made."""
        await self.slots.acquire()
        try:
            now = self.loop.time()
            while self.idle:
                connection = self.idle.pop()
                if connection.usable and now - connection.idle_since < KEEPALIVE_SECONDS:
                    self.lent.add(connection)
                    return connection
                connection.discard()
            connection = await self._connect()
        except BaseException:
            self.slots.release()
            raise
        self.lent.add(connection)
        return connection

    def give_back(self, connection: Connection) -> None:
        """Keep a connection for the next borrower if it can be reused, else close it."""
        if connection not in self.lent:
            return
        self.lent.discard(connection)
        self.slots.release()
        if connection.usable:
            connection.idle_since = self.loop.time()
            self.idle.append(connection)
        else:
            connection.discard()

    def close(self) -> None:
        for connection in [*self.idle, *self.lent]:
            connection.discard()
        self.idle.clear()
        self.lent.clear()

    async def _connect(self) -> Connection:
        """A new connection to the next of the host's addresses, or to the ones after it if that one fails, all
        within the connect timeout."""
        failure: OSError | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                addresses = await self._resolve()
                self._next_address = start = (self._next_address + 1) % len(addresses)
                for host, port in addresses[start:] + addresses[:start]:
                    try:
                        _, connection = await self.loop.create_connection(
                            lambda: Connection(self),
                            host,
                            port,
                            ssl=self.tls,
                            server_hostname=self.host if self.tls else None,
                            ssl_handshake_timeout=self.connect_timeout if self.tls else None,
                        )
                    except OSError as exc:  # refused, unreachable, certificate: the next address may do
                        failure = exc
                        continue
                    return connection
        except TimeoutError:
            raise NotConnected(f"No connection to {self.host}:{self.port} in {self.connect_timeout} s.") from None
        except OSError as exc:  # the name lookup failed
            failure = exc
        raise NotConnected(f"No connection to {self.host}:{self.port}: {failure}")

    async def _resolve(self) -> list[tuple[str, int]]:
        """The host's addresses, IPv4 first (Lambda functions have no IPv6 route unless their VPC gives them one),
        looked up once per ``DNS_CACHE_SECONDS``, not once per connection: a cold sender opens hundreds at once."""
        if self.loop.time() >= self._resolved_until or not self._addresses:
            infos = await self.loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            infos.sort(key=lambda info: info[0] != socket.AF_INET)
            self._addresses = [(str(info[4][0]), int(info[4][1])) for info in infos]
            self._resolved_until = self.loop.time() + DNS_CACHE_SECONDS
        return self._addresses
