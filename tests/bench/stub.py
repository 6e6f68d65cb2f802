"""A local stand-in for the API Gateway Management API: ``POST`` and ``DELETE /[stage/]@connections/{id}``.

Plain asyncio (no framework), so it costs far less CPU per request than the senders it measures. What a
connection id starts with decides the answer, so a test or a benchmark knows every outcome in advance:

==================  =============================================================
``gone-``           410 GoneException (the client has left)
``forbidden-``      403 ForbiddenException (API Gateway does not know the id)
``denied-``         403 AccessDeniedException (the caller lacks IAM permission)
``broken-``         500 InternalServerErrorException
``throttle-``       429 LimitExceededException for the first ``throttle_times`` posts, then 200
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


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class ManagementApiStub:
    """The stub's state and its request handling; ``serve()`` binds it to a port."""

    def __init__(self, latency: float = 0.0, throttle_times: int = 1, record_requests: bool = False) -> None:
        self.latency = latency
        self.throttle_times = throttle_times
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
        """Status, error type ('' for none) and response body for one request."""
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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.stub.transports.add(transport)  # type: ignore[arg-type]
        self.stub.counts["connections_opened"] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.stub.transports.discard(self.transport)  # type: ignore[arg-type]

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
            response = self._response(status, error_type, payload)
            if self.stub.latency:
                asyncio.get_running_loop().call_later(self.stub.latency, self._write, response)
            else:
                self._write(response)

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
