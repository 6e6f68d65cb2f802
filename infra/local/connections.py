"""The open connections: what the Management API finds by id, and what closing one means."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from infra.local.events import ConnectionFacts

GOING_AWAY = 1001
NORMAL_CLOSURE = 1000


@dataclass
class Connection:
    facts: ConnectionFacts
    socket: web.WebSocketResponse
    request: web.Request
    last_active: float = field(default_factory=time.time)
    # False once the gateway loses the connection without telling the backend (a simulated lost $disconnect).
    send_disconnect: bool = True
    # Why the gateway closed it (idle, too old, deleted), for the $disconnect event and the log.
    closed_by_gateway: str = ""
    close_code: int | None = None

    def touch(self) -> None:
        self.last_active = time.time()

    def description(self) -> dict[str, Any]:
        """GetConnection's answer on the wire: when it connected, who it is, when it was last active."""
        return {
            "connectedAt": _iso(self.facts.connected_at_ms / 1000),
            "identity": {"sourceIp": self.facts.source_ip, "userAgent": self.facts.user_agent},
            "lastActiveAt": _iso(self.last_active),
        }

    async def send(self, data: bytes) -> None:
        """Deliver a PostToConnection body: as text when it is UTF-8 (what browsers expect), else as binary."""
        try:
            text = data.decode()
        except UnicodeDecodeError:
            await self.socket.send_bytes(data)
        else:
            await self.socket.send_str(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed_by_gateway, self.close_code = reason, code
        await self.socket.close(code=code, message=reason.encode())

    def drop(self, *, send_disconnect: bool) -> None:
        """Cut the TCP connection without a closing handshake, as a network failure would."""
        self.send_disconnect = send_disconnect
        self.closed_by_gateway = "dropped"
        transport = self.request.transport
        if transport is not None:
            transport.abort()


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Connections(dict[str, Connection]):
    """Open connections by id. A connection is listed from its accepted handshake until its socket closes."""

    def open(self, connection_id: str) -> Connection | None:
        connection = self.get(connection_id)
        return connection if connection is not None and not connection.socket.closed else None
