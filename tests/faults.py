"""Network faults for tests: a TCP proxy on 127.0.0.1 in front of a server (PostgreSQL, say) that a test can cut.

    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        ...point a client at proxy.port...
        proxy.sever()      # every open connection is reset, as when the server restarts
        proxy.refuse()     # ...and new ones are reset at once (the server is down)
        proxy.blackhole()  # ...and new ones are accepted but never answered (a host that vanished)
        proxy.restore()    # new connections reach the server again

Each connection is forwarded by two threads (one per direction); the proxy keeps no data.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from types import TracebackType

FORWARD = "forward"
REFUSE = "refuse"
BLACKHOLE = "blackhole"


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN, as a crashed or restarted server's kernel does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``upstream`` until told otherwise."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode = FORWARD
        self.accepted = 0  # connections accepted since start, whatever became of them
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()  # client and upstream sockets of forwarded or held connections
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        self.sever()

    def sever(self) -> None:
        """Reset every connection open now; new ones are handled as the mode says."""
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            _reset(sock)

    def refuse(self) -> None:
        """Sever, and reset new connections as soon as they arrive."""
        self.mode = REFUSE
        self.sever()

    def blackhole(self) -> None:
        """Sever, and accept new connections without ever answering them."""
        self.mode = BLACKHOLE
        self.sever()

    def restore(self) -> None:
        self.mode = FORWARD

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            ready, _, _ = select.select([self._listener], [], [], 0.05)
            if not ready:
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            self.accepted += 1
            if self.mode == REFUSE:
                _reset(client)
            elif self.mode == BLACKHOLE:
                with self._lock:
                    self._open.add(client)
            else:
                self._forward(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._open.update((client, upstream))
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, target), name="tcp-proxy-pump", daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass  # severed, or the other side went away
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
