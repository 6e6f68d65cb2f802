"""Running a Lambda event: in this process (the project's handlers on worker threads) or over the Invoke API.

The gateway awaits an ``Invoker``; both kinds answer with the handler's result, or raise ``InvocationFailed`` when
the function itself failed (an exception, a timeout, an unreachable endpoint) - what API Gateway reports to a
client as an internal server error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from infra.invoke import LocalContext

WEBSOCKET = "WebSocketFunction"
HTTP = "HttpFunction"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class InvocationFailed(RuntimeError):
    """The function did not return a result."""


class Invoker(Protocol):
    description: str

    async def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]: ...

    async def close(self) -> None: ...


def project_handlers() -> dict[str, Handler]:
    """The handlers the SAM template wires to the WebSocket and HTTP functions (imports Django: call it once)."""
    from infra import handlers

    return {WEBSOCKET: handlers.websocket_handler, HTTP: handlers.http_handler}


class InProcessInvoker:
    """The project's handlers, run on worker threads so the event loop keeps serving while Django works.

    Each worker thread keeps its database connection between invocations, as a warm Lambda container does, and
    the entry points check it per invocation as they do there (``websockets_app.aws_lambda.database``);
    ``close()`` closes them on the threads that opened them.
    """

    description = "in-process"

    def __init__(self, handlers: dict[str, Handler] | None = None, workers: int = 8, timeout: float = 30) -> None:
        self._handlers = handlers if handlers is not None else project_handlers()
        self._workers = workers
        self._timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda")

    async def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        handler = self._handlers[function]
        context = LocalContext(function, self._timeout)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, handler, event, context)
        except Exception as exc:
            raise InvocationFailed(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(result, dict):
            raise InvocationFailed(f"The handler returned {type(result).__name__}, not a dict.")
        return result

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._close_threads)

    def _close_threads(self) -> None:
        # One task per worker thread, held at a barrier so that no thread runs two of them.
        barrier = threading.Barrier(self._workers, timeout=10)

        def close_connections() -> None:
            from django.db import connections

            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            connections.close_all()

        futures = [self._executor.submit(close_connections) for _ in range(self._workers)]
        for future in futures:
            future.result()
        self._executor.shutdown(wait=True)


class RemoteInvoker:
    """A Lambda endpoint that speaks the Invoke API, such as ``sam local start-lambda`` (no AWS signature needed)."""

    def __init__(self, endpoint: str, timeout: float = 60) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.description = f"Lambda endpoint {self.endpoint}"
        self._timeout = timeout
        self._session: Any = None

    async def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        url = f"{self.endpoint}/2015-03-31/functions/{function}/invocations"
        try:
            async with self._session.post(url, data=json.dumps(event)) as response:
                payload = await response.read()
                function_error = response.headers.get("X-Amz-Function-Error")
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InvocationFailed(f"{url}: {type(exc).__name__}: {exc}") from exc
        if status != 200 or function_error:
            raise InvocationFailed(f"{function} failed ({status} {function_error or ''}): {payload[:500]!r}")
        try:
            result = json.loads(payload)
        except ValueError as exc:
            raise InvocationFailed(f"{function} returned a body that is not JSON: {payload[:200]!r}") from exc
        if not isinstance(result, dict):
            raise InvocationFailed(f"{function} returned {type(result).__name__}, not an object.")
        return result

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
