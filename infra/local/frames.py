"""API Gateway's frame limit: a WebSocket frame over 32 KB closes the connection with 1009 (message too big).

aiohttp limits whole messages (``max_msg_size``) but not single frames, so ``FrameLimitedWebSocketResponse`` puts
a ``FrameSizeGuard`` in front of aiohttp's frame reader. The guard reads only frame headers - two to fourteen bytes
per frame - and hands every byte on unchanged; the first frame over the limit fails the reader with
``WebSocketError(1009)``, which aiohttp answers by closing the connection with that code.

This reaches into two private attributes of aiohttp's server protocol (the parser and the bytes that arrived
with the handshake); aiohttp is pinned, and tests/test_local_gateway.py fails if either changes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import WSCloseCode, web
from aiohttp.http_websocket import WebSocketError

_CONTROL_OPCODES = frozenset({0x8, 0x9, 0xA})


class FrameSizeGuard:
    """Tracks frame boundaries in the client's byte stream and stops the first frame longer than ``max_frame``."""

    def __init__(self, parser: Any, queue: Any, max_frame: int) -> None:
        self._parser = parser
        self._queue = queue
        self._max_frame = max_frame
        self._header = bytearray()
        self._payload_left = 0
        self._failed = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._failed:
            return True, b""
        if not self.scan(data):
            self.fail()
            return True, b""
        return self._parser.feed_data(data)

    def fail(self) -> None:
        """Stop reading: the reader's next ``receive()`` gets WebSocketError(1009) and aiohttp closes with it."""
        self._failed = True
        self._queue.set_exception(
            WebSocketError(WSCloseCode.MESSAGE_TOO_BIG, f"Frame larger than {self._max_frame} bytes")
        )

    def feed_eof(self) -> None:
        self._parser.feed_eof()

    def scan(self, data: bytes) -> bool:
        """Advance over ``data``; False as soon as a frame header announces a payload over the limit."""
        view = memoryview(data)
        while view:
            if self._payload_left:
                skipped = min(self._payload_left, len(view))
                self._payload_left -= skipped
                view = view[skipped:]
                continue
            needed = self._header_length()
            taken = max(0, min(needed - len(self._header), len(view)))
            self._header += view[:taken]
            view = view[taken:]
            if len(self._header) < self._header_length():
                continue  # wait for the rest of the header (its length may have grown once the second byte came)
            opcode, length = self._header[0] & 0x0F, self._payload_length()
            if opcode not in _CONTROL_OPCODES and length > self._max_frame:
                return False
            self._payload_left = length
            self._header.clear()
        return True

    def _header_length(self) -> int:
        if len(self._header) < 2:
            return 2
        length_code, masked = self._header[1] & 0x7F, self._header[1] & 0x80
        extended = {126: 2, 127: 8}.get(length_code, 0)
        return 2 + extended + (4 if masked else 0)

    def _payload_length(self) -> int:
        length_code = self._header[1] & 0x7F
        if length_code == 126:
            return int.from_bytes(self._header[2:4], "big")
        if length_code == 127:
            return int.from_bytes(self._header[2:10], "big")
        return length_code


class FrameLimitedWebSocketResponse(web.WebSocketResponse):
    """aiohttp's WebSocket response with a per-frame size limit as well as its per-message one."""

    def __init__(self, *, max_frame_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_frame_size = max_frame_size

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: Any) -> None:
        handshake_tail = bytes(getattr(request.protocol, "_message_tail", b""))
        super()._post_start(request, protocol, writer)
        server_protocol = request.protocol
        parser = server_protocol._payload_parser
        if parser is None or self._reader is None:
            raise RuntimeError("aiohttp's WebSocket parser is not where FrameSizeGuard expects it.")
        guard = FrameSizeGuard(parser, self._reader, self._max_frame_size)
        # Bytes that came with the handshake were already parsed by aiohttp: the guard only follows them.
        if not guard.scan(handshake_tail):
            guard.fail()
        server_protocol._payload_parser = guard
