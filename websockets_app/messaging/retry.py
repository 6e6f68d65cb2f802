"""What one try at a post to a connection came to, and whether to try again: one decision table for both
transports (``transports.boto``, ``transports.concurrent``), which only say what they saw.

A try ends with an HTTP answer (its status and AWS's error type) or without one; without one, what matters is
whether the request went out whole. The table (``judge``):

==============================================  ===========  ====================================================
what the transport saw                          outcome      then
==============================================  ===========  ====================================================
2xx                                             sent
410, or GoneException                           gone         the session is marked disconnected
403 not about permissions (unknown id)          gone         the session is marked disconnected
429, or a throttling error type                 throttled    tried again after a backoff, while attempts remain
any other answer (5xx included)                 failed       never tried again: it may have been delivered
no answer, request not written (refused)        failed       tried again after a backoff: nothing was sent
no answer, written: timeout or lost connection  unknown      never tried again (at most once); DeadlineExceeded
                                                             when the send's deadline had passed
no answer, written: any other library error     failed       never tried again
the deadline passed before the try              failed       DeadlineExceeded, not started
the deadline cut a try short                    unknown      DeadlineExceeded
==============================================  ===========  ====================================================

No AWS library is imported here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
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

# What became of a post. "throttled" and a refused "failed" are tried again while attempts remain; as a final
# outcome both count as failed (``SendResult.record``).
Outcome = Literal["sent", "gone", "throttled", "failed", "unknown"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The table's answer for one try: the outcome, the failure code ("" when sent or gone) and whether nothing
    can have arrived, so that trying again (after ``backoff_delay``) cannot deliver twice."""

    outcome: Outcome
    code: str = ""
    retry: bool = False


def judge(status: int | None, error_type: str, *, body_written: bool, deadline_passed: bool = False) -> Verdict:
    """Decide one try (see the table above).

    ``status`` is the HTTP status of the answer, None when none came; ``error_type`` is AWS's error type of an
    answer, or for no answer what the transport saw (``TIMEOUT``, ``CONNECTION_LOST`` or a library error's name);
    ``body_written`` says whether the request went out whole; ``deadline_passed`` whether the send's deadline had
    passed when the try ended.
    """
    if status is not None:
        outcome = classify(status, error_type)
        if outcome in ("sent", "gone"):
            return Verdict(outcome)
        return Verdict(outcome, error_type or f"HTTP{status}", retry=outcome == "throttled")
    if not body_written:
        return Verdict("failed", CONNECTION_ERROR, retry=True)
    if error_type in (TIMEOUT, CONNECTION_LOST):
        return Verdict("unknown", DEADLINE_EXCEEDED if deadline_passed else error_type)
    return Verdict("failed", error_type)


def deadline_reached(in_flight: bool) -> Verdict:
    """The send's deadline passed before a try (nothing sent) or during one (it may have arrived)."""
    return Verdict("unknown" if in_flight else "failed", DEADLINE_EXCEEDED)


def next_delay(verdict: Verdict, attempt: int, max_attempts: int) -> float | None:
    """Seconds to wait before trying again after try number ``attempt``; None when ``verdict`` is final."""
    if not verdict.retry or attempt >= max_attempts:
        return None
    return backoff_delay(attempt)


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
