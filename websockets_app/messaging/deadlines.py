"""How long a send may take: the configured timeout, and never longer than the Lambda invocation it runs in."""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import Any

# Time kept back from a Lambda invocation's remaining time: marking gone rows, logging and answering.
LAMBDA_MARGIN_SECONDS = 2.0

# The Lambda context of the invocation this code runs in, when its entry point says so (``lambda_context``).
_lambda_context: contextvars.ContextVar[Any] = contextvars.ContextVar("websockets_lambda_context", default=None)


@contextlib.contextmanager
def lambda_context(context: Any) -> Iterator[None]:
    """Within this block, every send also ends ``LAMBDA_MARGIN_SECONDS`` before the invocation times out."""
    token = _lambda_context.set(context)
    try:
        yield
    finally:
        _lambda_context.reset(token)


def send_deadline(timeout: float) -> float:
    """The ``time.monotonic()`` by which a send starting now must be over: ``timeout`` seconds from now, or
    earlier when the current Lambda invocation ends sooner."""
    now = time.monotonic()
    deadline = now + timeout
    context = _lambda_context.get()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        with contextlib.suppress(Exception):  # a context that cannot say leaves the configured timeout
            deadline = min(deadline, now + remaining() / 1000 - LAMBDA_MARGIN_SECONDS)
    return deadline
