"""What a send reports: the connections posted to (``Target``), those not reached (``Failure``), the result of a
whole send (``SendResult``) and the errors the messaging functions raise. No AWS library is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from websockets_app.messaging.retry import RETRYABLE_CODES, Outcome


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


class Target(NamedTuple):
    """One connection and where to post to it (a named tuple: a broadcast makes one per session, and a tuple is
    made in half the time of a frozen dataclass)."""

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
class SendResult:
    """What happened to one send. ``failed`` holds the connections not delivered to, with AWS's error codes;
    ``unknown`` those whose post may or may not have arrived (the connection broke after the request went out,
    no answer came in time, or the deadline cut it short). Neither is ever retried in a way that could deliver
    twice. The transports report in this form too, and a send adds their reports up (``extend``)."""

    sent: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    unknown: list[Failure] = field(default_factory=list)
    queued: int = 0  # connections handed to the fan-out queue, to be delivered by the fan-out function
    batches: int = 0  # queue messages holding them
    duration: float = 0.0  # seconds
    seq: int | None = None  # the channel's number for this message, for a replayable send (send_to_channel)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unknown

    def record(self, connection_id: str, outcome: Outcome, failure: Failure | None = None) -> None:
        """File one connection under its final outcome ("throttled" that outlasted the attempts is a failure)."""
        if outcome == "sent":
            self.sent.append(connection_id)
        elif outcome == "gone":
            self.gone.append(connection_id)
        elif outcome == "unknown":
            self.unknown.append(failure or Failure(connection_id, "Unknown"))
        else:
            self.failed.append(failure or Failure(connection_id, "Unknown"))

    def extend(self, other: SendResult) -> None:
        self.sent.extend(other.sent)
        self.gone.extend(other.gone)
        self.failed.extend(other.failed)
        self.unknown.extend(other.unknown)
        self.queued += other.queued
        self.batches += other.batches

    def __str__(self) -> str:
        parts = [f"{len(self.sent)} sent", f"{len(self.gone)} gone", f"{len(self.failed)} failed"]
        if self.unknown:
            parts.append(f"{len(self.unknown)} unknown")
        if self.batches:
            parts.append(f"{self.queued} queued in {self.batches} batches")
        return f"{', '.join(parts)} in {self.duration * 1000:.0f} ms"


@dataclass
class CloseResult:
    """What happened to each connection ``close_connections_of`` found open."""

    closed: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # already gone: nothing to close
    failed: list[Failure] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.closed)} closed, {len(self.gone)} gone, {len(self.failed)} failed"
