"""What every way of posting to connections shares: targets, outcomes, error classification and backoff.

No AWS library is imported here; the two transports (``management_api`` with boto3, ``concurrent_sender`` with
aiohttp) and the fan-out consumer all speak these types, so ``messaging`` can treat their reports alike.
"""

from __future__ import annotations

import contextlib
import contextvars
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

# Error types API Gateway uses for throttling (429): retried with backoff.
THROTTLING_ERRORS = frozenset({"LimitExceededException", "TooManyRequestsException", "ThrottlingException"})
# 403s that mean "your request was not allowed", not "no such connection": the connection may be fine, so it is
# never marked gone for these (an IAM mistake must not disconnect every session in the database).
AUTH_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "ExpiredTokenException",
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "UnrecognizedClientException",
    }
)
# Failure codes for errors that happen before or instead of an HTTP answer.
CONNECTION_ERROR = "ConnectionError"  # no connection could be made: nothing was sent
TIMEOUT = "Timeout"  # no answer in time: the post may have arrived
CONNECTION_LOST = "ConnectionLost"  # the connection broke after the request went out: it may have arrived
DEADLINE_EXCEEDED = "DeadlineExceeded"  # the send's deadline passed first (unknown if in flight, else failed)
# Failures that provably delivered nothing and may be tried again later (the fan-out consumer hands a record
# back to SQS only when all its failures are of these kinds). A 5xx answer is not one: API Gateway may have
# delivered the message before failing.
_RETRYABLE_CODES = frozenset({CONNECTION_ERROR, DEADLINE_EXCEEDED, *THROTTLING_ERRORS})

# Error answers are read up to this many bytes (AWS's are a few hundred); the rest is never downloaded.
MAX_ERROR_BODY_BYTES = 4096
# Time kept back from a Lambda invocation's remaining time: marking gone rows, logging and answering.
LAMBDA_MARGIN_SECONDS = 2.0

# Exponential backoff with full jitter: attempt n waits a random time in [0, min(cap, base * 2**(n-1))).
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 5.0

Outcome = Literal["sent", "gone", "throttled", "failed", "unknown"]


class MessagingError(Exception):
    """Base class of the errors raised by the messaging functions."""


class PayloadError(MessagingError, ValueError):
    """The message cannot be sent as given (not JSON-serialisable, empty or too large); nothing was sent."""


class ManagementApiError(MessagingError):
    """AWS refused a close or info call for a reason other than the connection being gone."""

    def __init__(self, failure: Failure) -> None:
        detail = f": {failure.message}" if failure.message else ""
        super().__init__(f"{failure.code} for connection {failure.connection_id!r}{detail}")
        self.failure = failure


@dataclass(frozen=True, slots=True)
class Target:
    """One connection and where to post to it."""

    connection_id: str
    endpoint: str
    region: str


@dataclass(frozen=True, slots=True)
class Failure:
    """A connection that was not sent to, and why (``code`` is AWS's error type or one of the codes above)."""

    connection_id: str
    code: str
    message: str = ""
    status: int | None = None

    @property
    def retryable(self) -> bool:
        """For an entry of ``failed``: nothing was delivered and trying again later may succeed. (Entries of
        ``unknown`` may have been delivered, whatever their code, and are never tried again.)"""
        return self.code in _RETRYABLE_CODES


@dataclass
class Delivery:
    """What a transport reports for one batch of targets."""

    sent: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    unknown: list[Failure] = field(default_factory=list)  # posts that may or may not have arrived; never retried

    def record(self, connection_id: str, outcome: Outcome, failure: Failure | None = None) -> None:
        if outcome == "sent":
            self.sent.append(connection_id)
        elif outcome == "gone":
            self.gone.append(connection_id)
        elif outcome == "unknown":
            self.unknown.append(failure or Failure(connection_id, "Unknown"))
        else:
            self.failed.append(failure or Failure(connection_id, "Unknown"))

    def extend(self, other: Delivery) -> None:
        self.sent.extend(other.sent)
        self.gone.extend(other.gone)
        self.failed.extend(other.failed)
        self.unknown.extend(other.unknown)


def classify(status: int, error_type: str) -> Outcome:
    """Sort an HTTP answer from the Management API into sent / gone / throttled / failed."""
    if 200 <= status < 300:
        return "sent"
    if status == 410 or error_type == "GoneException":
        return "gone"
    if status == 429 or error_type in THROTTLING_ERRORS:
        return "throttled"
    # API Gateway answers 403 ForbiddenException for connection ids it does not know.
    if status == 403 and error_type not in AUTH_ERRORS:
        return "gone"
    return "failed"


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))  # noqa: S311


# --- Deadlines ---------------------------------------------------------------------------------------------------

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
