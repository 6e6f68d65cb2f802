"""What a send reports: the connections posted to (``Target``), those not reached (``Failure``), the result of a
whole send (``SendResult``) and the errors the messaging functions raise. No AWS library is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from websockets_app.messaging.retry import RETRYABLE_CODES, Outcome

# Error answers are read up to this many bytes (AWS's are a few hundred); the rest is never downloaded.
MAX_ERROR_BODY_BYTES = 4096


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
        return self.code in RETRYABLE_CODES


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
