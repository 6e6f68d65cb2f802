"""The local API Gateway: a WebSocket API (with its Management API) and an HTTP API, both on 127.0.0.1.

Each WebSocket client gets a connection id; its handshake becomes a ``$connect`` event whose result decides
acceptance, each message an event on the route its body selects, and its close a ``$disconnect`` event. The HTTP
port turns every request into an HTTP API (payload 2.0) event. Events go to an ``Invoker``; each is logged in one
line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, unquote

from aiohttp import WSCloseCode, WSMsgType, web

from infra.local import events
from infra.local.config import GatewayConfig
from infra.local.connections import GOING_AWAY, Connection, Connections
from infra.local.frames import FrameLimitedWebSocketResponse
from infra.local.invokers import HTTP, WEBSOCKET, InvocationFailed, Invoker
from infra.local.management_api import CONNECTIONS_PATH, ManagementApi, error
from websockets_app.aws_lambda.route_selection import select_route
from websockets_app.redaction import redact_query_string

logger = logging.getLogger("infra.local")
T = TypeVar("T")

# What API Gateway answers when the integration fails: a 500 to a handshake, this message to a connected client.
INTERNAL_ERROR = "Internal server error"
HTTP_CLIENT_MAX_BYTES = 10 * 1024 * 1024  # the HTTP API's payload quota
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection"})


class LocalGateway:
    def __init__(self, config: GatewayConfig, invoker: Invoker, log: logging.Logger = logger) -> None:
        self.config = config
        self.invoker = invoker
        self.connections = Connections()
        self._log = log
        self._management = ManagementApi(self.connections, config.max_message_bytes, log)
        self._runners: list[web.AppRunner] = []
        self._sockets: set[asyncio.Task[Any]] = set()  # the handlers of open connections
        self.ws_port = config.ws_port
        self.http_port = config.http_port

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        ws_app = web.Application()
        ws_app.router.add_route("*", "/{tail:.*}", self._ws_port_request)
        self.ws_port = await self._serve(ws_app, self.config.ws_port)
        http_app = web.Application(client_max_size=HTTP_CLIENT_MAX_BYTES)
        http_app.router.add_route("*", "/{tail:.*}", self._http_request)
        self.http_port = await self._serve(http_app, self.config.http_port)

    async def _serve(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, port)
        await site.start()
        self._runners.append(runner)
        return runner.addresses[0][1]  # the bound port: port 0 picks a free one

    async def stop(self) -> None:
        for connection in list(self.connections.values()):
            await connection.close(GOING_AWAY, "Gateway shutting down")
        # Let each closed connection's $disconnect finish before the invoker goes away.
        if self._sockets:
            await asyncio.wait(self._sockets, timeout=10)
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        await self.invoker.close()

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.ws_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self.http_port}"

    async def drop(self, connection_id: str, *, send_disconnect: bool = True) -> bool:
        """Cut a connection as a network failure would; without ``send_disconnect`` the backend is never told."""
        connection = self.connections.get(connection_id)
        if connection is None:
            return False
        connection.drop(send_disconnect=send_disconnect)
        return True

    # -- the WebSocket port -----------------------------------------------------------------------------------

    async def _ws_port_request(self, request: web.Request) -> web.StreamResponse:
        # Matched on the raw path: connection ids hold "/" and "+", which clients percent-encode.
        management = CONNECTIONS_PATH.match(request.rel_url.raw_path)
        if management:
            return await self._management.handle(request, unquote(management.group("connection_id")))
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        return error(404, "NotFoundException", "WebSocket handshakes and @connections/{id} only.")

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        facts = events.connection_facts(
            connection_id=events.new_connection_id(),
            source_ip=request.remote or "127.0.0.1",
            user_agent=request.headers.get("User-Agent", ""),
            domain_name=request.url.host or self.config.host,
            api_id=self.config.api_id,
            stage=self.config.stage,
        )
        event = events.connect_event(facts, request.headers.items(), parse_qsl(request.query_string), "http")
        started = time.perf_counter()
        try:
            result = await self.invoker.invoke(WEBSOCKET, event)
        except InvocationFailed as exc:
            self._event_line("CONNECT", facts.connection_id, "500", started, f"{_safe_query(request)} ({exc})")
            return web.Response(status=500, text=INTERNAL_ERROR)
        status = _status_of(result)
        self._event_line("CONNECT", facts.connection_id, str(status), started, _safe_query(request))
        reply = events.read_http_result(result)
        if not 200 <= status < 300:
            content_type = _header(reply.headers, "Content-Type")
            return web.Response(
                status=status, body=reply.body, headers={"Content-Type": content_type} if content_type else None
            )

        subprotocol = _header(reply.headers, "Sec-WebSocket-Protocol")
        socket = FrameLimitedWebSocketResponse(
            max_frame_size=self.config.max_frame_bytes,
            max_msg_size=self.config.max_message_bytes,
            compress=False,  # API Gateway does not negotiate permessage-deflate
            protocols=(subprotocol,) if subprotocol else (),
        )
        await socket.prepare(request)
        connection = Connection(facts, socket, request)
        self.connections[facts.connection_id] = connection
        task = cast("asyncio.Task[Any]", asyncio.current_task())  # aiohttp runs each request in a task
        self._sockets.add(task)
        try:
            await self._receive(connection)
        finally:
            self.connections.pop(facts.connection_id, None)
            await self._disconnect(connection)
            self._sockets.discard(task)
        return socket

    async def _receive(self, connection: Connection) -> None:
        socket = connection.socket
        deadline = connection.facts.connected_at_ms / 1000 + self.config.max_connection_seconds
        while True:
            now = time.time()
            idle_left = connection.last_active + self.config.idle_timeout - now
            try:
                message = await socket.receive(timeout=max(0.0, min(idle_left, deadline - now)))
            except TimeoutError:
                reason = "connection limit reached" if time.time() >= deadline else "idle timeout"
                await connection.close(GOING_AWAY, f"Going away ({reason})")
                return
            if message.type == WSMsgType.TEXT or message.type == WSMsgType.BINARY:
                connection.touch()
                await self._message(connection, message.data)
            elif message.type == WSMsgType.ERROR:
                # aiohttp has already closed the socket with the error's code (1009 for a message too big).
                code = getattr(message.data, "code", None)
                connection.close_code = int(code) if code else None
                connection.closed_by_gateway = "Message too big" if code == WSCloseCode.MESSAGE_TOO_BIG else "Error"
                return
            elif message.type in {WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED}:
                return

    async def _message(self, connection: Connection, data: str | bytes) -> None:
        route_key = select_route(data, self.config.selection_path, self.config.routes)
        event = events.message_event(connection.facts, route_key, data)
        started = time.perf_counter()
        detail = f"{route_key} {len(data)} B"
        try:
            result = await self.invoker.invoke(WEBSOCKET, event)
        except InvocationFailed as exc:
            self._event_line("MESSAGE", connection.facts.connection_id, "500", started, f"{detail} ({exc})")
            reply = {
                "message": INTERNAL_ERROR,
                "connectionId": connection.facts.connection_id,
                "requestId": event["requestContext"]["requestId"],
            }
            await _send_if_open(connection, json.dumps(reply).encode())
            return
        self._event_line("MESSAGE", connection.facts.connection_id, str(_status_of(result)), started, detail)
        # Every route here is two-way, as the template's $default is: a result with a body goes back to the client.
        body = events.read_http_result(result).body
        if body:
            await _send_if_open(connection, body)

    async def _disconnect(self, connection: Connection) -> None:
        code = connection.close_code or connection.socket.close_code or 1006
        reason = connection.closed_by_gateway or ("Client closed" if code != 1006 else "Connection lost")
        connection_id = connection.facts.connection_id
        if not connection.send_disconnect:
            self._log.info("WS   DISCONNECT %s not sent (lost, as API Gateway may lose it)", connection_id)
            return
        event = events.disconnect_event(connection.facts, code, reason)
        started = time.perf_counter()
        try:
            result = await self.invoker.invoke(WEBSOCKET, event)
        except InvocationFailed as exc:
            self._event_line("DISCONNECT", connection_id, "500", started, f"{code} {reason} ({exc})")
            return
        self._event_line("DISCONNECT", connection_id, str(_status_of(result)), started, f"{code} {reason}")

    # -- the HTTP port -----------------------------------------------------------------------------------------

    async def _http_request(self, request: web.Request) -> web.StreamResponse:
        event = events.http_api_event(
            method=request.method,
            raw_path=request.rel_url.raw_path,
            raw_query=request.rel_url.raw_query_string,
            headers=request.headers.items(),
            body=await request.read(),
            source_ip=request.remote or "127.0.0.1",
            domain_name=request.url.host or self.config.host,
            scheme="http",
            port=self.http_port,
        )
        started = time.perf_counter()
        try:
            result = await self.invoker.invoke(HTTP, event)
        except InvocationFailed as exc:
            self._log.info("HTTP %-10s %s 500 %s (%s)", request.method, request.rel_url.raw_path, _ms(started), exc)
            return web.json_response({"message": "Internal Server Error"}, status=500)
        reply = events.read_http_result(result)
        self._log.info("HTTP %-10s %s %s %s", request.method, request.rel_url.raw_path, reply.status, _ms(started))
        response = web.Response(status=reply.status, body=reply.body)
        for name, value in reply.headers:
            if name.lower() not in _HOP_BY_HOP:
                response.headers.add(name, value)
        return response

    def _event_line(self, event_type: str, connection_id: str, status: str, started: float, detail: str) -> None:
        self._log.info("WS   %-10s %s %s %s %s", event_type, connection_id, status, _ms(started), detail)


def _ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.1f} ms"


def _status_of(result: dict[str, Any]) -> int:
    try:
        return int(result.get("statusCode", 200))
    except (TypeError, ValueError):
        return 502


def _header(headers: list[tuple[str, str]], wanted: str) -> str:
    """The header's value (names compared in any case), or "" when it is not there."""
    return next((value for name, value in headers if name.lower() == wanted.lower()), "")


def _safe_query(request: web.Request) -> str:
    """The raw query string for the log, with token values as ``***`` (the redaction Django's log lines use)."""
    query_string = request.rel_url.raw_query_string
    return f"?{redact_query_string(query_string)}" if query_string else ""


async def _send_if_open(connection: Connection, data: bytes) -> None:
    if not connection.socket.closed:
        with contextlib.suppress(ConnectionResetError):
            await connection.send(data)


class GatewayThread:
    """A gateway on an event loop in a background thread, for tests and scripts: ``with GatewayThread(g) as t:``."""

    def __init__(self, gateway: LocalGateway) -> None:
        self.gateway = gateway
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="local-gateway", daemon=True)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coroutine`` on the gateway's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout)

    def __enter__(self) -> GatewayThread:
        self._thread.start()
        try:
            self.run(self.gateway.start())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.run(self.gateway.stop())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
