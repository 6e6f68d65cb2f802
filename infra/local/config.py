"""What the local gateway serves and how strictly: API Gateway's own quotas unless told otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from websockets_app.aws_lambda.route_selection import selection_path

# API Gateway's WebSocket quotas and rules; websockets_app.limits imports nothing from Django, so reading them here
# does not load the app before Django is set up.
from websockets_app.limits import (
    DEFAULT_ROUTE_SELECTION_EXPRESSION,
    IDLE_TIMEOUT_SECONDS,
    MAX_CONNECTION_SECONDS,
    MAX_FRAME_BYTES,
    MAX_MESSAGE_BYTES,
    ROUTE_KEY_PATTERN,
)


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
        bad = sorted(route for route in self.routes if not ROUTE_KEY_PATTERN.match(route))
        if bad:
            raise ConfigError(f"Route keys must be 1-64 letters, digits, '-' or '_': {', '.join(map(repr, bad))}.")
        self.selection_path  # noqa: B018 (validates the expression)

    @cached_property  # read for every message: parsed once
    def selection_path(self) -> tuple[str, ...]:
        """The body keys the route selection expression reads, e.g. ("action",) for $request.body.action."""
        try:
            return selection_path(self.route_selection_expression)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
