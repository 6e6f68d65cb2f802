"""The floor of what a post to the Management API costs this process: the cheapest client that still does the work.

Every request is built and signed before the clock starts (the bytes are ready to write); during the run a plain
``asyncio.Protocol`` per keep-alive connection writes one request, reads the status line, the headers and the
Content-Length body, and writes the next. No retries, no result objects, no HTTP library. The sender's CPU per
message is reported as a multiple of this one, measured against the same stub in the same run.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

_HEADER_END = b"\r\n\r\n"


def prebuilt_requests(url: str, connection_ids: list[str], body: bytes) -> list[bytes]:
    """One complete HTTP/1.1 POST per id, signed as the sender signs them (SigV4, the same headers)."""
    from types import SimpleNamespace

    from websockets_app.messaging.transports.sigv4 import ConnectionSigner

    credentials = SimpleNamespace(access_key="bench", secret_key="bench", token="")
    signer = ConnectionSigner(url, "eu-west-1", credentials, hashlib.sha256(body).hexdigest())
    requests = []
    for connection_id in connection_ids:
        target, headers = signer.sign(connection_id)
        path = urlsplit(target).path
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        requests.append(
            f"POST {path} HTTP/1.1\r\nHost: {signer.host}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
    return requests


class _Connection(asyncio.Protocol):
    def __init__(self, requests: Iterator[bytes], statuses: Counter[int], done: asyncio.Future[None]) -> None:
        self.requests = requests
        self.statuses = statuses
        self.done = done
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._next()

    def _next(self) -> None:
        assert self.transport is not None
        request = next(self.requests, None)
        if request is None:
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(_HEADER_END)
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.statuses[int(head[9:12])] += 1
            self.buffer = self.buffer[end + 4 + length :]
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _post_all(url: str, requests: list[bytes], connections: int) -> Counter[int]:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    shared = iter(requests)  # every connection takes the next request when its previous answer is in
    statuses: Counter[int] = Counter()
    finished = []
    for _ in range(min(connections, len(requests))):
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(lambda done=done: _Connection(shared, statuses, done), parts.hostname, parts.port)
        finished.append(done)
    await asyncio.gather(*finished)
    return statuses


def post_all(url: str, requests: list[bytes], connections: int) -> Counter[int]:
    """Write every request over ``connections`` keep-alive connections; the count of each answer's status."""
    return asyncio.run(_post_all(url, requests, connections))
