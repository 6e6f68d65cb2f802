"""The local gateway started for a test: its own event loop thread, the project's handlers on the test database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from infra.local.config import GatewayConfig
from infra.local.gateway import GatewayThread, LocalGateway
from infra.local.invokers import InProcessInvoker, Invoker


class RecordingInvoker:
    """Passes events on and keeps them, so a test can read what the gateway sent to Lambda."""

    def __init__(self, invoker: Invoker) -> None:
        self._invoker = invoker
        self.description = invoker.description
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append((function, event))
        return await self._invoker.invoke(function, event)

    async def close(self) -> None:
        await self._invoker.close()

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for _, event in self.events if event.get("requestContext", {}).get("eventType") == event_type]


@contextmanager
def gateway_for_tests(settings: Any, invoker: Invoker | None = None, **config: Any) -> Iterator[GatewayThread]:
    """A gateway on free ports whose Management API is the one the app's settings name."""
    from websockets_app.messaging.transports import concurrent

    recorder = RecordingInvoker(invoker if invoker is not None else InProcessInvoker(workers=4))
    config.setdefault("http_port", 0)
    config.setdefault("ws_port", 0)
    gateway = LocalGateway(GatewayConfig(**config), recorder)
    with GatewayThread(gateway) as running:
        settings.WEBSOCKETS = {
            **getattr(settings, "WEBSOCKETS", {}),
            "MANAGEMENT_ENDPOINT_URL": f"http://127.0.0.1:{gateway.ws_port}",
            "CLIENT_URL": gateway.ws_url,
            "AWS_REGION": "us-east-1",
        }
        try:
            yield running
        finally:
            concurrent.shutdown()
