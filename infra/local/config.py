"""What the local gateway serves and how strictly: API Gateway's own quotas unless told otherwise."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from websockets_app.messaging import MAX_PAYLOAD_BYTES

# API Gateway WebSocket quotas (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
MAX_MESSAGE_BYTES = MAX_PAYLOAD_BYTES  # 128 KB: a larger message closes the connection with 1009
MAX_FRAME_BYTES = 32 * 1024  # 32 KB per frame: a larger frame closes the connection with 1009
IDLE_TIMEOUT_SECONDS = 10 * 60
MAX_CONNECTION_SECONDS = 2 * 60 * 60

DEFAULT_ROUTE_SELECTION_EXPRESSION = "$request.body.action"

_SELECTION_EXPRESSION = re.compile(r"\$request\.body\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)\Z")
_ROUTE_KEY = re.compile(r"[-a-zA-Z0-9_]{1,64}\Z")


class ConfigError(ValueError):
    """A setting the gateway cannot run with; the message says which and why."""


@dataclass(frozen=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    http_port: int = 8000
    ws_port: int = 8001
    # Custom route keys (besides $connect, $disconnect and $default), as the deployed API defines them.
    routes: frozenset[str] = field(default_factory=frozenset)
    route_selection_expression: str = DEFAULT_ROUTE_SELECTION_EXPRESSION
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_frame_bytes: int = MAX_FRAME_BYTES
    idle_timeout: float = IDLE_TIMEOUT_SECONDS
    max_connection_seconds: float = MAX_CONNECTION_SECONDS
    # What the events name as their API: the app registers an ApiGateway row for it on the first $connect.
    api_id: str = "local"
    stage: str = "local"

    def __post_init__(self) -> None:
        for name in ("http_port", "ws_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ConfigError(f"{name} must be a port number (0-65535), not {port}.")
        if self.http_port and self.http_port == self.ws_port:
            raise ConfigError("The HTTP and WebSocket ports must differ.")
        for name in ("max_message_bytes", "max_frame_bytes", "idle_timeout", "max_connection_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive.")
        if self.max_frame_bytes > self.max_message_bytes:
            raise ConfigError("max_frame_bytes cannot exceed max_message_bytes.")
        bad = sorted(route for route in self.routes if not _ROUTE_KEY.match(route))
        if bad:
            raise ConfigError(f"Route keys must be 1-64 letters, digits, '-' or '_': {', '.join(map(repr, bad))}.")
        self.selection_path  # noqa: B018 (validates the expression)

    @cached_property  # read for every message: parsed once
    def selection_path(self) -> tuple[str, ...]:
        """The body keys the route selection expression reads, e.g. ("action",) for $request.body.action."""
        match = _SELECTION_EXPRESSION.match(self.route_selection_expression)
        if match is None:
            raise ConfigError(
                "The route selection expression must look like $request.body.<key>[.<key>...], "
                f"not {self.route_selection_expression!r}."
            )
        return tuple(match.group(1).split("."))
