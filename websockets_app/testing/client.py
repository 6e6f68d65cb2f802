"""``WebSocketTestClient``: drive a project's WebSocket views the way API Gateway does, in-process.

Each call builds the event API Gateway would send and runs it through the app's Lambda handler, so it takes the
production path: event -> WSGI -> middleware -> URL resolver -> view. What the server sends back to connections
goes through the app's real senders to a fake Management API (``FakeManagementApi``) that records it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, override_settings
from django.urls import resolve

from websockets_app.aws_lambda import events
from websockets_app.aws_lambda.route_selection import select_route, selection_path
from websockets_app.conf import ws_settings
from websockets_app.limits import DEFAULT_ROUTE_SELECTION_EXPRESSION
from websockets_app.testing.management_api import FakeManagementApi

_ID_ALPHABET = string.ascii_letters + string.digits
_USER_AGENT = "WebSocketTestClient"
_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_AWS_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


@dataclass(frozen=True)
class ConnectCredentials:
    """What a browser brings to ``$connect`` for a signed-in user: the token in the query, the session cookie."""

    query: dict[str, str]
    headers: dict[str, str]


class _LambdaContext:
    """The parts of Lambda's context object the app reads: a send's deadline comes from the remaining time."""

    function_name = "websocket-test-client"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:websocket-test-client"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class WebSocketTestConnection:
    """One client connection. ``status_code`` is the ``$connect``'s answer; ``last_status`` that of the last event."""

    client: WebSocketTestClient
    connection_id: str
    status_code: int
    last_status: int
    user: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """Whether the ``$connect`` was accepted (API Gateway opens the socket only on a 2xx)."""
        return 200 <= self.status_code < 300

    @property
    def received(self) -> list[Any]:
        """Every message the server delivered to this connection, in order (JSON-decoded where it is JSON)."""
        return self.client.management_api.received(self.connection_id)

    def clear(self) -> None:
        """Forget what this connection has received so far."""
        self.client.management_api.clear(self.connection_id)

    def send(self, data: Any, route: str | None = None) -> Any:
        """Send a message: a dict or list is JSON-encoded, str and bytes go as they are (bytes as a binary frame).

        ``route`` defaults to what the route selection expression picks, as API Gateway does. Returns the view's
        answer: its JSON body decoded, else its text, or None for an empty body; ``last_status`` holds the status.
        """
        response = self.client._send(self, data, route)
        body = _body_text(response)
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return body

    def disconnect(self) -> int:
        """The client closes the socket: the ``$disconnect`` event; its status."""
        response = self.client._disconnect(self)
        return self.last_status if response is None else int(response["statusCode"])

    def vanish(self) -> None:
        """The client drops without a ``$disconnect``: from now on every post to it gets 410 GoneException."""
        self.client.management_api.vanish(self.connection_id)


class WebSocketTestClient:
    """A fake API Gateway in front of the project's WebSocket views, for tests (needs database access).

    Use it as a context manager (or call ``close()``): while open, the app's ``MANAGEMENT_ENDPOINT_URL`` points at
    ``management_api`` and AWS credentials are fake ones for the process, so nothing can reach AWS. The pytest
    fixture ``ws_client`` (``websockets_app.testing.pytest_plugin``) does this for each test.
    """

    def __init__(
        self,
        *,
        api_id: str = "wstestapi1",
        stage: str = "test",
        region: str = "eu-west-1",
        route_selection_expression: str = DEFAULT_ROUTE_SELECTION_EXPRESSION,
        routes: frozenset[str] | set[str] = frozenset(),
        origin: str | None = None,
        source_ip: str = "198.51.100.20",
        management_api: FakeManagementApi | None = None,
    ) -> None:
        self.api_id = api_id
        self.stage = stage
        self.region = region
        self.domain_name = f"{api_id}.execute-api.{region}.amazonaws.com"
        self.selection_path = selection_path(route_selection_expression)  # ValueError for one API Gateway refuses
        self.routes = frozenset(routes)  # the custom route keys the API has: only those can be selected
        self.origin = origin
        self.source_ip = source_ip
        self.management_api = management_api or FakeManagementApi()
        self.connections: list[WebSocketTestConnection] = []
        self._connected_at_ms: dict[str, int] = {}
        self._stack: ExitStack | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def __enter__(self) -> WebSocketTestClient:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        if self._stack is not None:
            return
        stack = ExitStack()
        try:
            stack.enter_context(self.management_api)
            stack.enter_context(_fake_aws_environment())
            stack.enter_context(
                override_settings(
                    # API Gateway sends its own domain as the Host header; a deployment allows it, so does this.
                    ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, self.domain_name],
                    WEBSOCKETS={
                        **getattr(settings, "WEBSOCKETS", {}),
                        "MANAGEMENT_ENDPOINT_URL": self.management_api.url,
                        "AWS_REGION": self.region,
                    },
                )
            )
        except BaseException:
            stack.close()
            raise
        self._stack = stack

    def close(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    # -- connections -----------------------------------------------------------------------------------------------

    def credentials_for(self, user: Any) -> ConnectCredentials:
        """A fresh WebSocket token for ``user`` from the app's token machinery, in the query parameter the connect
        view reads, and the session cookie it is bound to (when ``TOKEN_REQUIRES_SESSION`` is on)."""
        from websockets_app.tokens import issue_token

        session_key: str | None = None
        headers: dict[str, str] = {}
        if ws_settings.TOKEN_REQUIRES_SESSION:
            browser = Client()
            browser.force_login(user)
            session_key = browser.cookies[settings.SESSION_COOKIE_NAME].value
            headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={session_key}"
        token = issue_token(user, session_key).token
        return ConnectCredentials(query={self._token_parameter(): token}, headers=headers)

    def connect(
        self, user: Any = None, query: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> WebSocketTestConnection:
        """Open a connection: for ``user`` a token (and session cookie) is issued first unless ``query`` carries
        one. Returns the connection, accepted or not (see ``status_code`` and ``accepted``)."""
        query = dict(query or {})
        all_headers = self._handshake_headers()
        if user is not None and self._token_parameter() not in query:
            credentials = self.credentials_for(user)
            query.update(credentials.query)
            all_headers.update(credentials.headers)
        all_headers.update(headers or {})
        connection_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(15)) + "="
        event = events.connect_event(all_headers, query, connection=self._connection(connection_id), **_fresh())
        status = int(self._invoke(event)["statusCode"])
        connection = WebSocketTestConnection(self, connection_id, status, status, user, all_headers)
        if connection.accepted:
            self.management_api.connected(connection_id, self.source_ip, all_headers.get("User-Agent", ""))
        self.connections.append(connection)
        return connection

    # -- what connections call -------------------------------------------------------------------------------------

    def _send(self, connection: WebSocketTestConnection, data: Any, route: str | None) -> dict[str, Any]:
        frame: str | bytes = data if isinstance(data, str | bytes) else json.dumps(data)
        route_key = route if route is not None else select_route(frame, self.selection_path, self.routes)
        event = events.message_event(
            frame, route_key, connection=self._connection(connection.connection_id), **_fresh(message=True)
        )
        response = self._invoke(event)
        connection.last_status = int(response["statusCode"])
        return response

    def _disconnect(self, connection: WebSocketTestConnection) -> dict[str, Any]:
        event = events.disconnect_event(1000, "", connection=self._connection(connection.connection_id), **_fresh())
        response = self._invoke(event)
        connection.last_status = int(response["statusCode"])
        self.management_api.vanish(connection.connection_id)  # the socket is closed: posts to it are gone
        return response

    def _invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        if self._stack is None:
            raise RuntimeError("Open the WebSocketTestClient first: `with WebSocketTestClient() as client:`.")
        with _connections_kept():
            return _websocket_handler()(event, _LambdaContext())

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _connection(self, connection_id: str) -> events.Connection:
        """What API Gateway repeats in every event of a connection."""
        return events.Connection(
            connection_id=connection_id,
            source_ip=self.source_ip,
            user_agent=_USER_AGENT,
            domain_name=self.domain_name,
            api_id=self.api_id,
            stage=self.stage,
            connected_at_ms=self._connected_at_ms.setdefault(connection_id, int(time.time() * 1000)),
        )

    def _handshake_headers(self) -> dict[str, str]:
        headers = {
            "Host": self.domain_name,
            "Sec-WebSocket-Key": base64.b64encode(secrets.token_bytes(16)).decode(),
            "Sec-WebSocket-Version": "13",
            "User-Agent": _USER_AGENT,
        }
        origin = self.origin if self.origin is not None else _default_origin()
        if origin:
            headers["Origin"] = origin
        return headers

    def _token_parameter(self) -> str:
        view = resolve(f"{ws_settings.URL_PREFIX}connect").func
        view_class = getattr(view, "view_class", None)
        return str(getattr(view_class, "token_query_parameter", "ws_token"))


@lru_cache(maxsize=1)
def _websocket_handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The app's Lambda handler for the project's WSGI application: the one a deployment's handler module builds."""
    from websockets_app.aws_lambda import make_websocket_handler

    return make_websocket_handler()


def _fresh(*, message: bool = False) -> dict[str, Any]:
    """A request id and time of now, as API Gateway gives each event (and a message id to each message)."""
    fresh: dict[str, Any] = {"request_id": secrets.token_urlsafe(12), "time_ms": int(time.time() * 1000)}
    if message:
        fresh["message_id"] = secrets.token_urlsafe(12)
    return fresh


def _body_text(response: dict[str, Any]) -> str:
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        return base64.b64decode(body).decode(errors="replace")
    return str(body)


def _default_origin() -> str:
    """The first origin ``ALLOWED_ORIGINS`` lets in (a subdomain pattern gets ``www``), else a plain test origin."""
    for entry in ws_settings.ALLOWED_ORIGINS or ():
        scheme, _, host = entry.partition("://")
        return f"{scheme}://www{host}" if host.startswith(".") else entry
    return "https://testserver"


@contextmanager
def _connections_kept() -> Iterator[None]:
    """Django recycles database connections as each request starts and finishes; inside a test's transaction that
    would close the connection the test runs on. As Django's test client does, not while the toolkit's event runs."""
    disconnected = [
        signal for signal in (request_started, request_finished) if signal.disconnect(close_old_connections)
    ]
    try:
        yield
    finally:
        for signal in disconnected:
            signal.connect(close_old_connections)


@contextmanager
def _fake_aws_environment() -> Iterator[None]:
    """Fake credentials for the process while the client is open, with the app's cached AWS clients dropped on
    the way in and out, so nothing signs with real credentials and no client outlives its endpoint."""
    from websockets_app.messaging import aws_clients
    from websockets_app.messaging.transports import concurrent

    saved = {name: os.environ.get(name) for name in (*_AWS_ENVIRONMENT, *_AWS_UNSET)}
    os.environ.update(_AWS_ENVIRONMENT)
    for name in _AWS_UNSET:
        os.environ.pop(name, None)
    aws_clients.reset()
    try:
        yield
    finally:
        concurrent.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        aws_clients.reset()
