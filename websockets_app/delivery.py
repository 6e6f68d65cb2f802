"""What every way of posting to connections shares: targets, outcomes, error classification and backoff.

No AWS library is imported here; the two transports (``management_api`` with boto3, ``concurrent_sender`` with
aiohttp) and the fan-out consumer all speak these types, so ``messaging`` can treat their reports alike.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

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
CONNECTION_ERROR = "ConnectionError"
TIMEOUT = "Timeout"
# Failures worth another try later (the fan-out consumer hands these back to SQS).
_RETRYABLE_CODES = frozenset({CONNECTION_ERROR, TIMEOUT, *THROTTLING_ERRORS})

# Exponential backoff with full jitter: attempt n waits a random time in [0, min(cap, base * 2**(n-1))).
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 5.0

Outcome = Literal["sent", "gone", "throttled", "failed"]


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
        return self.code in _RETRYABLE_CODES or (self.status is not None and self.status >= 500)


@dataclass
class Delivery:
    """What a transport reports for one batch of targets."""

    sent: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)

    def record(self, connection_id: str, outcome: Outcome, failure: Failure | None = None) -> None:
        if outcome == "sent":
            self.sent.append(connection_id)
        elif outcome == "gone":
            self.gone.append(connection_id)
        else:
            self.failed.append(failure or Failure(connection_id, "Unknown"))

    def extend(self, other: Delivery) -> None:
        self.sent.extend(other.sent)
        self.gone.extend(other.gone)
        self.failed.extend(other.failed)


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
