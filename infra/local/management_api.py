"""The API Gateway Management API on the WebSocket port: ``POST / GET / DELETE [/<stage>]/@connections/{id}``.

Requests are not authenticated (the app signs them with SigV4 as it would for AWS; nothing here checks). An id that
is not open gets 410 GoneException, as from AWS, which the app takes as "this client has gone".
"""

from __future__ import annotations

import json
import logging
import re

from aiohttp import web

from infra.local.connections import NORMAL_CLOSURE, Connection, Connections

CONNECTIONS_PATH = re.compile(r"(?:/[^/]+)?/@connections/(?P<connection_id>[^/]+)\Z")


def error(status: int, error_type: str, message: str) -> web.Response:
    """An error the way AWS's REST-JSON services send one (boto3 reads the type from the header)."""
    return web.Response(
        status=status,
        text=json.dumps({"message": message}),
        content_type="application/json",
        headers={"x-amzn-ErrorType": error_type},
    )


class ManagementApi:
    def __init__(self, connections: Connections, max_message_bytes: int, log: logging.Logger) -> None:
        self._connections = connections
        self._max_message_bytes = max_message_bytes
        self._log = log

    async def handle(self, request: web.Request, connection_id: str) -> web.StreamResponse:
        response = await self._answer(request, connection_id)
        self._log.info(
            "API  %-10s %s %s%s",
            request.method,
            connection_id,
            response.status,
            f" {response.headers['x-amzn-ErrorType']}" if "x-amzn-ErrorType" in response.headers else "",
        )
        return response

    async def _answer(self, request: web.Request, connection_id: str) -> web.StreamResponse:
        if request.method not in {"POST", "GET", "DELETE"}:
            return error(405, "MethodNotAllowedException", "Use POST, GET or DELETE on @connections/{id}.")
        connection = self._connections.open(connection_id)
        if connection is None:
            return error(410, "GoneException", f"Connection {connection_id} is not open.")
        if request.method == "GET":
            return web.json_response(connection.description())
        if request.method == "DELETE":
            # Gone for everyone from now on, before the closing handshake has finished.
            self._connections.pop(connection_id, None)
            await connection.close(NORMAL_CLOSURE, "Deleted through the Management API")
            return web.Response(status=204)
        return await self._post(request, connection)

    async def _post(self, request: web.Request, connection: Connection) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > self._max_message_bytes:
            return error(413, "PayloadTooLargeException", f"Data is larger than {self._max_message_bytes} bytes.")
        data = bytearray()
        while len(data) <= self._max_message_bytes:  # a body without Content-Length is read up to the limit
            chunk = await request.content.read(self._max_message_bytes + 1 - len(data))
            if not chunk:
                break
            data += chunk
        if len(data) > self._max_message_bytes:
            return error(413, "PayloadTooLargeException", f"Data is larger than {self._max_message_bytes} bytes.")
        try:
            await connection.send(bytes(data))
        except ConnectionResetError:
            return error(410, "GoneException", f"Connection {connection.facts.connection_id} is not open.")
        return web.Response(status=200)
