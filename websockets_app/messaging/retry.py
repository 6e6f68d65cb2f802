"""When a post to a connection is tried again: API Gateway's answers sorted into outcomes, and the backoff.

No AWS library is imported here; both transports (``transports.boto``, ``transports.concurrent``) decide with it.
"""

from __future__ import annotations

import random
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
CONNECTION_ERROR = "ConnectionError"  # no connection could be made: nothing was sent
TIMEOUT = "Timeout"  # no answer in time: the post may have arrived
CONNECTION_LOST = "ConnectionLost"  # the connection broke after the request went out: it may have arrived
DEADLINE_EXCEEDED = "DeadlineExceeded"  # the send's deadline passed first (unknown if in flight, else failed)
# Failures that provably delivered nothing and may be tried again later (the fan-out consumer hands a record
# back to SQS only when all its failures are of these kinds). A 5xx answer is not one: API Gateway may have
# delivered the message before failing.
RETRYABLE_CODES = frozenset({CONNECTION_ERROR, DEADLINE_EXCEEDED, *THROTTLING_ERRORS})

# Exponential backoff with full jitter: attempt n waits a random time in [0, min(cap, base * 2**(n-1))).
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 5.0

Outcome = Literal["sent", "gone", "throttled", "failed", "unknown"]


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
