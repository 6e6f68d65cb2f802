"""Channels that survive reconnects: sequence numbers, a bounded history, and replay after a reconnect.

``send_to_channel(channel, data, replay=True)`` stamps the message with the channel's next sequence number and
keeps it in the channel's history (``record``). Every connection of the channel receives the envelope::

    {"seq": 42, "id": "<message id>", "channel": "lobby", "data": <data>}

A client that reconnects sends ``{"action": "resume", "since": 41}``; ``answer_resume`` posts what it missed as
``{"type": "replay", ...}`` messages (several, in order, past API Gateway's size limit), or one
``{"type": "gap", ...}`` when the history no longer reaches back that far. See docs/replay.md.

Numbers are gap-free and strictly increasing per channel under concurrent senders: the channel's counter row and
its history row are written by one statement on PostgreSQL (a data-modifying CTE) and in one transaction on
SQLite (whose writers take turns), so a send that fails leaves neither.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from django.db import connections, router, transaction
from django.db.models import F, Field, Model
from django.utils import timezone

from websockets_app.conf import ws_settings
from websockets_app.limits import MAX_CONNECTION_SECONDS, MAX_MESSAGE_BYTES
from websockets_app.messaging.payloads import encode_payload
from websockets_app.messaging.results import PayloadError
from websockets_app.models import ChannelMessage, ChannelSequence, WebSocketSession

# The largest sequence number (PositiveBigIntegerField) has 19 digits.
_SEQ_DIGITS = 19
_SEQ_PREFIX = '{"seq":'


@dataclass(frozen=True)
class StampedMessage:
    """A recorded message: its number, its id and the envelope every connection receives (encoded once)."""

    seq: int
    message_id: str
    envelope: bytes


@dataclass(frozen=True)
class ResumeAnswer:
    """What a resume gets: the posts to make, in order, and whether they are replays or a gap notice."""

    posts: list[bytes]
    gap: bool
    replayed: int


def _replay_wrapper(channel_name: str, more: bool = True) -> tuple[bytes, bytes]:
    """A replay post around its envelopes: '{"type":"replay","channel":"...",["more":true,]"messages":[' and ']}'.
    Every post of a replay but the last says ``more``, so a client holds live messages until the replay is whole;
    sizes are reckoned with the longer head, so any post fits."""
    document: dict[str, Any] = {"type": "replay", "channel": channel_name}
    if more:
        document["more"] = True
    head = encode_payload({**document, "messages": []})
    return head[:-2], b"]}"


def record(channel_name: str, data: Any, using: str | None = None) -> StampedMessage:
    """Give ``data`` the channel's next number and keep its envelope in the history: one statement (PostgreSQL)
    or one transaction of two (SQLite). ``PayloadError`` when it cannot be encoded or would not fit a replay.

    Written to ``using``, else to the database the routers choose for writing the history."""
    if not isinstance(channel_name, str) or not channel_name:
        raise PayloadError("A replayable message needs a channel name.")
    message_id = uuid.uuid4().hex
    # Everything after the number: '"id":...,"channel":...,"data":...}', encoded once.
    rest = encode_payload({"id": message_id, "channel": channel_name, "data": data})[1:]
    head, tail = _replay_wrapper(channel_name)
    if len(head) + len(_SEQ_PREFIX) + _SEQ_DIGITS + 1 + len(rest) + len(tail) > MAX_MESSAGE_BYTES:
        raise PayloadError(
            f"The message is too large to be replayed: with its envelope it must fit in {MAX_MESSAGE_BYTES} bytes."
        )
    suffix = "," + rest.decode("utf-8")
    using = using or router.db_for_write(ChannelMessage)
    connection = connections[using]
    now = timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_statements(using)["record"], [channel_name, channel_name, message_id, suffix, now])
            (seq,) = cursor.fetchone()
    else:
        with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
            cursor.execute(_statements(using)["next_seq"], [channel_name])
            (seq,) = cursor.fetchone()
            envelope_text = f"{_SEQ_PREFIX}{seq}{suffix}"
            cursor.execute(_statements(using)["insert"], [channel_name, seq, message_id, envelope_text, now])
    return StampedMessage(seq=seq, message_id=message_id, envelope=f"{_SEQ_PREFIX}{seq}{suffix}".encode())


_cache: dict[tuple[str, str], dict[str, str]] = {}


def _column(model: type[Model], name: str) -> str:
    field = cast("Field[Any, Any]", model._meta.get_field(name))
    return str(field.column)


def _statements(using: str) -> dict[str, str]:
    connection = connections[using]
    key = (using, connection.vendor)
    if key in _cache:
        return _cache[key]
    quote = connection.ops.quote_name
    counter = quote(ChannelSequence._meta.db_table)
    history = quote(ChannelMessage._meta.db_table)
    channel = quote(_column(ChannelSequence, "channel_name"))
    last = quote(_column(ChannelSequence, "last_seq"))
    h_channel, h_seq, h_id, h_envelope, h_created = (
        quote(_column(ChannelMessage, name)) for name in ("channel_name", "seq", "message_id", "envelope", "created_on")
    )
    upsert = (
        f"INSERT INTO {counter} AS c ({channel}, {last}) VALUES (%s, 1) "  # noqa: S608
        f"ON CONFLICT ({channel}) DO UPDATE SET {last} = c.{last} + 1 RETURNING {last}"
    )
    insert_columns = f"{h_channel}, {h_seq}, {h_id}, {h_envelope}, {h_created}"
    # Only quoted identifiers from the models' metadata are interpolated; every value is a query parameter.
    statements = {
        # PostgreSQL: the counter's upsert and the history row in one statement, so they commit together.
        "record": (
            f"WITH counter AS ({upsert}) "  # noqa: S608
            f"INSERT INTO {history} ({insert_columns}) "
            f"SELECT %s, counter.{last}, %s, '{_SEQ_PREFIX}' || CAST(counter.{last} AS TEXT) || %s, %s FROM counter "
            f"RETURNING {h_seq}"
        ),
        "next_seq": upsert,
        "insert": f"INSERT INTO {history} ({insert_columns}) VALUES (%s, %s, %s, %s, %s)",  # noqa: S608
        # The counter, the oldest number still held and the held rows after ``since``, in one query. Held: among
        # the channel's newest REPLAY_HISTORY_LENGTH and not older than REPLAY_HISTORY_MAX_AGE_SECONDS, whether or
        # not the cleanup job has deleted the rest yet.
        "read": (
            f"SELECT c.{last}, "  # noqa: S608
            f"(SELECT MIN(o.{h_seq}) FROM {history} o WHERE o.{h_channel} = c.{channel} "
            f"AND o.{h_seq} > c.{last} - %s AND o.{h_created} >= %s), h.{h_seq}, h.{h_envelope} "
            f"FROM {counter} c LEFT OUTER JOIN {history} h ON h.{h_channel} = c.{channel} "
            f"AND h.{h_seq} > %s AND h.{h_seq} > c.{last} - %s AND h.{h_created} >= %s "
            f"WHERE c.{channel} = %s ORDER BY h.{h_seq} LIMIT %s"
        ),
    }
    _cache[key] = statements
    return statements


def answer_resume(channel_name: str, since: int, using: str | None = None) -> ResumeAnswer:
    """The posts that bring a client at ``since`` up to date on its channel, read in one query (from ``using``,
    else from the database the routers choose for reading the history)."""
    length = ws_settings.REPLAY_HISTORY_LENGTH
    cutoff = timezone.now() - timedelta(seconds=ws_settings.REPLAY_HISTORY_MAX_AGE_SECONDS)
    most = ws_settings.REPLAY_MAX_MESSAGES
    using = using or router.db_for_read(ChannelMessage)
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(_statements(using)["read"], [length, cutoff, since, length, cutoff, channel_name, most])
        rows = cursor.fetchall()
    last = rows[0][0] if rows else 0
    first = rows[0][1] if rows else None
    envelopes = [envelope for _, _, seq, envelope in rows if seq is not None]
    missed = last - since
    if missed == 0:
        return ResumeAnswer(posts=replay_posts(channel_name, []), gap=False, replayed=0)
    # Missed more than one answer holds, more than the history holds, or numbers this channel never gave.
    if missed < 0 or missed > most or first is None or first > since + 1 or len(envelopes) != missed:
        notice = {"type": "gap", "channel": channel_name, "since": since, "first": first, "last": last}
        return ResumeAnswer(posts=[encode_payload(notice)], gap=True, replayed=0)
    return ResumeAnswer(posts=replay_posts(channel_name, envelopes), gap=False, replayed=len(envelopes))


def replay_posts(channel_name: str, envelopes: list[str]) -> list[bytes]:
    """``{"type": "replay", ...}`` posts holding these envelopes in order, each within API Gateway's limit."""
    head, tail = _replay_wrapper(channel_name)
    last_head, _ = _replay_wrapper(channel_name, more=False)
    chunks: list[list[bytes]] = []
    current: list[bytes] = []
    size = len(head) + len(tail)
    for text in envelopes:
        envelope = text.encode("utf-8")
        added = len(envelope) + (1 if current else 0)
        if current and size + added > MAX_MESSAGE_BYTES:
            chunks.append(current)
            current, size = [], len(head) + len(tail)
            added = len(envelope)
        current.append(envelope)
        size += added
    chunks.append(current)  # the last post, empty when nothing was missed
    return [(head if n < len(chunks) - 1 else last_head) + b",".join(chunk) + tail for n, chunk in enumerate(chunks)]


def parse_since(body: dict[str, Any]) -> int:
    """The ``since`` of a resume message: a non-negative integer (ValueError otherwise)."""
    since = body.get("since")
    if isinstance(since, bool) or not isinstance(since, int) or since < 0 or since > 2**63 - 1:
        raise ValueError("since must be a non-negative integer")
    return since


def trim(using: str | None = None) -> int:
    """Delete the history no resume can use any more (past each channel's length, or too old): one DELETE."""
    from django.db.models import OuterRef, Q, Subquery

    cutoff = timezone.now() - timedelta(seconds=ws_settings.REPLAY_HISTORY_MAX_AGE_SECONDS)
    using = using or router.db_for_write(ChannelMessage)
    last = ChannelSequence.objects.using(using).filter(channel_name=OuterRef("channel_name")).values("last_seq")
    newest_kept = Subquery(last) - ws_settings.REPLAY_HISTORY_LENGTH
    stale = ChannelMessage.objects.using(using).filter(Q(created_on__lt=cutoff) | Q(seq__lte=newest_kept))
    deleted, _ = stale.delete()
    return deleted


def last_seq(channel_name: str) -> int:
    """The channel's last number (0 before its first replayable message): where a freshly loaded page stands."""
    value = ChannelSequence.objects.filter(channel_name=channel_name).values_list("last_seq", flat=True).first()
    return value or 0


# A connection that used up its resumes is told to come back after API Gateway's connection limit: only a new
# connection may resume again.
RESUME_RETRY_AFTER_SECONDS = MAX_CONNECTION_SECONDS


def count_resume(session: WebSocketSession) -> bool:
    """Count one resume of this connection, unless it had REPLAY_RESUMES_PER_CONNECTION already: one conditional
    UPDATE, so concurrent resumes cannot overshoot. False: over the limit, nothing written."""
    limit = ws_settings.REPLAY_RESUMES_PER_CONNECTION
    counted = WebSocketSession.objects.filter(pk=session.pk, resume_count__lt=limit).update(
        resume_count=F("resume_count") + 1
    )
    return counted == 1
