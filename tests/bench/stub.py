"""A local stand-in for the API Gateway Management API: ``POST`` and ``DELETE /[stage/]@connections/{id}``.

Plain asyncio (no framework), so it costs far less CPU per request than the senders it measures. What a
connection id starts with decides the answer, so a test or a benchmark knows every outcome in advance:

==================  =============================================================
``gone-``           410 GoneException (the client has left)
``forbidden-``      403 ForbiddenException (API Gateway does not know the id)
``denied-``         403 AccessDeniedException (the caller lacks IAM permission)
``broken-``         500 InternalServerErrorException
``throttle-``       429 LimitExceededException for the first ``throttle_times`` posts, then 200
``drop-``           the whole request is read and recorded as delivered, then the connection is reset unanswered
``hangup-``         the same, but the connection is closed cleanly (FIN) instead of reset
``stall-``          the request is read and recorded as delivered; no answer ever comes
``trickle-``        recorded as delivered; the 200 answer comes one byte every ``trickle_interval`` seconds
``huge-``           500 with a ``huge_body_bytes`` body (100 MiB by default), streamed as the client reads it
anything else       200, the body is recorded as delivered (a DELETE: 204, the id recorded as closed)
==================  =============================================================

Every answer waits ``latency`` seconds first, like a real round trip. ``GET /_stats`` returns the counters as
JSON and ``POST /_reset`` clears them. Run on its own (``python tests/bench/stub.py --latency-ms 20``) it prints
``{"port": N}`` on its first line and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from urllib.parse import unquote

MARKER = "/@connections/"

_REASONS = {200: "OK", 204: "No Content", 403: "Forbidden", 404: "Not Found", 410: "Gone", 429: "Too Many Requests"}
_ERRORS = {
    "gone-": (410, "GoneException"),
    "forbidden-": (403, "ForbiddenException"),
    "denied-": (403, "AccessDeniedException"),
    "broken-": (500, "InternalServerErrorException"),
}
# Answers no well-behaved server gives (see the table above); played by _HttpProtocol.
_FAULTS = ("drop-", "hangup-", "stall-", "trickle-", "huge-")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class ManagementApiStub:
    """The stub's state and its request handling; ``serve()`` binds it to a port."""

    def __init__(
        self,
        latency: float = 0.0,
        throttle_times: int = 1,
        record_requests: bool = False,
        trickle_interval: float = 4.0,
        huge_body_bytes: int = 100 * 1024 * 1024,
    ) -> None:
        self.latency = latency
        self.throttle_times = throttle_times
        self.trickle_interval = trickle_interval
        self.huge_body_bytes = huge_body_bytes
        self.record_requests = record_requests
        self.transports: set[asyncio.Transport] = set()
        self.reset()

    def reset(self) -> None:
        self.delivered: dict[str, list[bytes]] = defaultdict(list)
        self.closed: list[str] = []
        self.counts: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.requests: list[RecordedRequest] = []
        self._cpu_at_reset = time.process_time()

    def stats(self) -> dict[str, int]:
        return {
            **self.counts,
            "cpu_us": round((time.process_time() - self._cpu_at_reset) * 1e6),
            "delivered_connections": len(self.delivered),
            "delivered_posts": sum(len(bodies) for bodies in self.delivered.values()),
        }

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        """Status, error type ('' for none) and response body for one request.

        Status 0 means "no ordinary answer": the error type then names the fault to play (``_FAULTS``).
        """
        if self.record_requests:
            self.requests.append(RecordedRequest(method, target, headers, body))
        if target == "/_stats":
            return 200, "", json.dumps(self.stats()).encode()
        if target == "/_reset" and method == "POST":
            self.reset()
            return 204, "", b""
        self.counts["requests"] += 1
        if method not in ("POST", "DELETE") or MARKER not in target:
            return 404, "NotFoundException", b'{"message":"Not Found"}'
        connection_id = unquote(target.rsplit(MARKER, 1)[1])
        for prefix in _FAULTS:
            if connection_id.startswith(prefix):
                self.counts[prefix.rstrip("-")] += 1
                if prefix != "huge-":
                    self.delivered[connection_id].append(body)
                return 0, prefix, b""
        for prefix, (status, error_type) in _ERRORS.items():
            if connection_id.startswith(prefix):
                self.counts[error_type] += 1
                return status, error_type, b'{"message":"' + error_type.encode() + b'"}'
        if connection_id.startswith("throttle-") and self.throttled[connection_id] < self.throttle_times:
            self.throttled[connection_id] += 1
            self.counts["LimitExceededException"] += 1
            return 429, "LimitExceededException", b'{"message":"Limit Exceeded"}'
        if method == "DELETE":
            self.closed.append(connection_id)
            return 204, "", b""
        self.delivered[connection_id].append(body)
        return 200, "", b""


class _HttpProtocol(asyncio.Protocol):
    """Just enough HTTP/1.1 for keep-alive clients that send Content-Length bodies (boto3, aiohttp)."""

    def __init__(self, stub: ManagementApiStub) -> None:
        self.stub = stub
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.can_write = asyncio.Event()
        self.can_write.set()
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.stub.transports.add(transport)  # type: ignore[arg-type]
        self.stub.counts["connections_opened"] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.stub.transports.discard(self.transport)  # type: ignore[arg-type]
        self.can_write.set()  # a writer waiting for room sees the closed transport and stops
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            request_line, *header_lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            size = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + size:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + size])
            del self.buffer[: end + 4 + size]
            method, target, _ = request_line.split(" ", 2)
            status, error_type, payload = self.stub.answer(method, target, headers, body)
            if status == 0:
                self._play_fault(error_type)
                return
            response = self._response(status, error_type, payload)
            if self.stub.latency:
                asyncio.get_running_loop().call_later(self.stub.latency, self._write, response)
            else:
                self._write(response)

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    def _play_fault(self, fault: str) -> None:
        transport = self.transport
        assert transport is not None
        self.buffer.clear()
        if fault == "drop-":
            # SO_LINGER 0: close() sends a reset, as a crashing server or a middlebox would.
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.close()
        elif fault == "hangup-":
            transport.close()
        elif fault == "trickle-":
            self.task = asyncio.get_running_loop().create_task(
                self._trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            )
        elif fault == "huge-":
            self.task = asyncio.get_running_loop().create_task(self._huge_error())
        # "stall-": say nothing; the client gives up (or the stub closes the connection when it stops).

    async def _trickle(self, response: bytes) -> None:
        for index in range(len(response)):
            await asyncio.sleep(self.stub.trickle_interval)
            if self.transport is None or self.transport.is_closing():
                return
            self.transport.write(response[index : index + 1])

    async def _huge_error(self) -> None:
        size = self.stub.huge_body_bytes
        head = (
            f"HTTP/1.1 500 Error\r\nContent-Length: {size}\r\nContent-Type: application/json\r\n"
            "x-amzn-ErrorType: InternalServerErrorException\r\n\r\n"
        )
        assert self.transport is not None
        self.transport.write(head.encode())
        chunk = b" " * 65536  # one buffer reused: the stub's memory stays flat however big the body is
        sent = 0
        while sent < size and not self.transport.is_closing():
            await self.can_write.wait()
            piece = chunk if size - sent >= len(chunk) else chunk[: size - sent]
            self.transport.write(piece)
            sent += len(piece)

    @staticmethod
    def _response(status: int, error_type: str, payload: bytes) -> bytes:
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Length: {len(payload)}\r\n"
        if error_type:
            head += f"x-amzn-ErrorType: {error_type}\r\nContent-Type: application/json\r\n"
        return head.encode() + b"\r\n" + payload

    def _write(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)


async def serve(stub: ManagementApiStub, port: int = 0) -> asyncio.Server:
    """Listen on 127.0.0.1 (``port=0`` picks a free port; read it from ``server.sockets[0]``)."""
    return await asyncio.get_running_loop().create_server(lambda: _HttpProtocol(stub), "127.0.0.1", port, backlog=1024)


class StubThread:
    """The stub on its own event loop in a daemon thread, for tests that inspect what it received."""

    def __init__(self, stub: ManagementApiStub) -> None:
        self.stub = stub
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="management-api-stub", daemon=True)

    def __enter__(self) -> StubThread:
        self._thread.start()
        self.server = asyncio.run_coroutine_threadsafe(serve(self.stub), self.loop).result(timeout=5)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        async def stop() -> None:
            self.server.close()
            for transport in list(self.stub.transports):
                transport.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


async def _main(latency: float, throttle_times: int) -> None:
    server = await serve(ManagementApiStub(latency=latency, throttle_times=throttle_times))
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    # Serve until the parent closes our stdin (or dies).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--throttle-times", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(_main(args.latency_ms / 1000, args.throttle_times))
