"""An in-process API Gateway Management API for tests: it records every post, close and info call and answers as
AWS does.

It serves HTTP on 127.0.0.1 from a thread of the test process, so the app's real senders (the signed concurrent
one and the botocore client) run unchanged, with ``WEBSOCKETS["MANAGEMENT_ENDPOINT_URL"]`` pointing here. A
connection it has been told is gone (``vanish``) gets 410 GoneException, as a client that dropped does on AWS.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import unquote

from websockets_app.limits import MAX_MESSAGE_BYTES

CallKind = Literal["post", "close", "info"]

_KINDS: dict[str, CallKind] = {"POST": "post", "DELETE": "close", "GET": "info"}
_MARKER = "/@connections/"


@dataclass(frozen=True)
class ManagementApiCall:
    """One request the app made: a post (``data`` holds the message), a close or an info call, and the status the
    fake answered with."""

    kind: CallKind
    connection_id: str
    data: bytes
    status: int
    signed: bool  # whether it carried a SigV4 Authorization header, as every call to AWS must

    def decoded(self) -> Any:
        """The posted message, JSON-decoded where it is JSON, else the text (or the bytes, if not UTF-8)."""
        try:
            text = self.data.decode()
        except UnicodeDecodeError:
            return self.data
        try:
            return json.loads(text)
        except ValueError:
            return text


class FakeManagementApi:
    """Start it with ``with FakeManagementApi() as api:`` (or ``start()``/``stop()``); ``api.url`` is its endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[ManagementApiCall] = []
        self._gone: set[str] = set()
        self._identities: dict[str, tuple[datetime, str, str]] = {}  # connected at, source IP, user agent
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what tests read -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("The fake Management API is not running: use it as a context manager or start() it.")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def calls(self) -> list[ManagementApiCall]:
        """Every call so far, in the order the fake answered them."""
        with self._lock:
            return list(self._calls)

    def posts(self, connection_id: str | None = None) -> list[ManagementApiCall]:
        """The posts (to one connection, or to all), delivered or not."""
        return [c for c in self.calls if c.kind == "post" and connection_id in (None, c.connection_id)]

    def received(self, connection_id: str) -> list[Any]:
        """The messages delivered to one connection, in order, JSON-decoded where they are JSON."""
        return [c.decoded() for c in self.posts(connection_id) if c.status == HTTPStatus.OK]

    @property
    def closed(self) -> list[str]:
        """The connections the app closed, in order."""
        return [c.connection_id for c in self.calls if c.kind == "close" and c.status == HTTPStatus.NO_CONTENT]

    def clear(self, connection_id: str | None = None) -> None:
        """Forget the recorded calls (to one connection, or all); gone connections stay gone."""
        with self._lock:
            self._calls = [c for c in self._calls if connection_id not in (None, c.connection_id)]

    # -- what tests change -----------------------------------------------------------------------------------------

    def connected(self, connection_id: str, source_ip: str = "127.0.0.1", user_agent: str = "") -> None:
        """A connection the gateway opened, with what info calls answer about it. Any other id is open too (the
        app may post to sessions a test created directly) unless it vanished."""
        with self._lock:
            self._gone.discard(connection_id)
            self._identities[connection_id] = (datetime.now(UTC), source_ip, user_agent)

    def vanish(self, connection_id: str) -> None:
        """From now on the connection is gone (410), as when a client drops without the gateway's $disconnect."""
        with self._lock:
            self._gone.add(connection_id)

    # -- serving ---------------------------------------------------------------------------------------------------

    def start(self) -> FakeManagementApi:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                # serve_forever checks for shutdown every poll_interval: 0.5 s by default, at the end of every test.
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.01},
                name="fake-management-api",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self._thread = None

    def __enter__(self) -> FakeManagementApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answer(self, method: str, path: str, data: bytes, signed: bool) -> tuple[int, dict[str, Any] | None, str]:
        """Status, JSON body and AWS error type for one request; the call is recorded."""
        kind = _KINDS.get(method)
        connection_id = unquote(path.rsplit(_MARKER, 1)[1]) if _MARKER in path else ""
        if kind is None or not connection_id or "/" in connection_id:
            return HTTPStatus.NOT_FOUND, {"message": "Not Found"}, "NotFoundException"
        with self._lock:
            gone = connection_id in self._gone
            status, body, error_type = self._outcome(kind, connection_id, data, gone, signed)
            self._calls.append(ManagementApiCall(kind, connection_id, data, status, signed))
            if kind == "close" and status == HTTPStatus.NO_CONTENT:
                self._gone.add(connection_id)
        return status, body, error_type

    def _outcome(
        self, kind: CallKind, connection_id: str, data: bytes, gone: bool, signed: bool
    ) -> tuple[int, dict[str, Any] | None, str]:
        if not signed:
            return (
                HTTPStatus.FORBIDDEN,
                {"message": "Missing Authentication Token"},
                "MissingAuthenticationTokenException",
            )
        if gone:
            return HTTPStatus.GONE, {"message": f"Connection {connection_id} is gone."}, "GoneException"
        if kind == "post" and len(data) > MAX_MESSAGE_BYTES:
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "Message too long"}, "PayloadTooLargeException"
        if kind == "close":
            return HTTPStatus.NO_CONTENT, None, ""
        if kind == "info":
            # GetConnection's answer as it is on the wire (botocore maps it to ConnectedAt, Identity, ...).
            since, source_ip, user_agent = self._identities.get(connection_id, (datetime.now(UTC), "127.0.0.1", ""))
            stamp = since.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            identity = {"sourceIp": source_ip, "userAgent": user_agent}
            return HTTPStatus.OK, {"connectedAt": stamp, "identity": identity, "lastActiveAt": stamp}, ""
        return HTTPStatus.OK, None, ""


def _handler_class(api: FakeManagementApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the senders' pooled connections expect

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            signed = (self.headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256 ")
            status, body, error_type = api._answer(self.command, self.path, data, signed)
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if error_type:
                self.send_header("x-amzn-ErrorType", error_type)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_GET = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a test's output is its own."""

    return Handler
