"""Who is connected to a channel, and notices when a person arrives or leaves.

``present_in(channel)`` answers with one query: the distinct signed-in users with an open connection to the
channel, and how many anonymous connections it has. A ``WebSocketView`` with ``presence_notices = True`` posts
``{"type": "presence", "event": "join" | "leave", "channel": ..., "user": {"id": ..., "name": ...}}`` to the
channel when a user's first connection to it opens and when the last one closes (a second tab says nothing), and
answers ``{"action": "presence"}`` with a snapshot. The stale sweep (markStaleWebSocketSessions) sends the leave
notices of connections whose ``$disconnect`` never came.

Opening or closing a connection and deciding whether it was the user's first or last in the channel happen under
one lock per channel and user (``websockets_app.locks``), so two tabs opened or closed at once announce exactly
once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count

from websockets_app.locks import lock_keys
from websockets_app.messaging import SendResult, send_to_queryset
from websockets_app.models import WebSocketSession, WebSocketSessionQuerySet

Event = Literal["join", "leave"]


@dataclass(frozen=True)
class PresentUser:
    id: Any
    name: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class Presence:
    """Who is connected to ``channel``: each signed-in user once, and the number of anonymous connections."""

    channel: str
    users: list[PresentUser] = field(default_factory=list)
    anonymous: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "type": "presence",
            "event": "snapshot",
            "channel": self.channel,
            "users": [user.as_json() for user in self.users],
            "anonymous": self.anonymous,
        }


def present_in(channel_name: str) -> Presence:
    """The channel's presence, from its open connections, in one query (grouped by user)."""
    username = f"user__{_username_field()}"
    rows = (
        WebSocketSession.objects.filter(connected=True, channel_name=channel_name)
        .values_list("user_id", username)
        .annotate(connections=Count("pk"))
        .order_by(username)
    )
    users: list[PresentUser] = []
    anonymous = 0
    for user_id, name, connections in rows:
        if user_id is None:
            anonymous += connections
        else:
            users.append(PresentUser(id=user_id, name=str(name)))
    return Presence(channel=channel_name, users=users, anonymous=anonymous)


def _username_field() -> str:
    user_model: Any = get_user_model()
    return str(user_model.USERNAME_FIELD)


def notice(event: Event, channel_name: str, user: PresentUser) -> dict[str, Any]:
    return {"type": "presence", "event": event, "channel": channel_name, "user": user.as_json()}


def lock_name(channel_name: str, user_id: Any) -> str:
    return f"websockets_app.presence:{channel_name}:{user_id}"


@contextmanager
def user_in_channel(channel_name: str, user_id: Any) -> Iterator[None]:
    """A transaction holding the lock of this user in this channel: opens and closes decide one at a time."""
    with transaction.atomic():
        lock_keys(lock_name(channel_name, user_id))
        yield


def has_other_connection(channel_name: str, user_id: Any, connection_id: str) -> bool:
    sessions = WebSocketSession.objects.filter(connected=True, channel_name=channel_name, user_id=user_id)
    return bool(sessions.exclude(connection_id=connection_id).exists())


def announce(event: Event, channel_name: str, user: PresentUser, exclude: str | None = None) -> SendResult:
    """Post a join or leave notice to the channel's connections (but ``exclude``: one still in its $connect)."""
    sessions = WebSocketSession.objects.filter(channel_name=channel_name)
    if exclude is not None:
        sessions = sessions.exclude(connection_id=exclude)
    return send_to_queryset(sessions, notice(event, channel_name, user))


def present_user(user: Any) -> PresentUser:
    return PresentUser(id=user.pk, name=user.get_username())


def record_connection(session: WebSocketSession) -> None:
    """Insert a new connection's row (as ``WebSocketView.connect`` does) and, when it is the user's first in the
    channel, post a join notice to the channel's other connections."""
    channel, user = session.channel_name, session.user
    with user_in_channel(channel, session.user_id):
        WebSocketSession.objects.record(session)
        first = not has_other_connection(channel, session.user_id, session.connection_id)
    if first:
        # Not to this connection: nothing can be posted to it during its $connect.
        announce("join", channel, present_user(user), exclude=session.connection_id)


def record_disconnection(connection_id: str) -> bool:
    """Mark a connection closed and, when it was its user's last in the channel, post a leave notice to the
    channel. False when no open connection has this id."""
    found = (
        WebSocketSession.objects.filter(connection_id=connection_id, connected=True)
        .values_list("channel_name", "user_id", f"user__{_username_field()}")
        .first()
    )
    if found is None:
        return False
    channel, user_id, name = found
    sessions = WebSocketSession.objects.filter(connection_id=connection_id)
    if not channel or user_id is None:
        return bool(sessions.mark_disconnected())
    with user_in_channel(channel, user_id):
        closed = sessions.mark_disconnected()
        last = closed and not has_other_connection(channel, user_id, connection_id)
    if last:
        announce("leave", channel, PresentUser(id=user_id, name=str(name)))
    return bool(closed)


def sweep_leaves(stale: WebSocketSessionQuerySet) -> tuple[int, int]:
    """Mark the ``stale`` sessions disconnected and announce each user who has no connection left in a channel.

    Returns (sessions marked, leave notices sent). One UPDATE marks the sessions and returns whose they were, so
    only those this sweep marked are announced; when signed-in users were among them, two queries more (who is
    still there, the users' names) and one send per notice.
    """
    marked = _mark_returning_users(stale)
    left = {(channel, user_id) for channel, user_id in marked if channel and user_id is not None}
    if not left:
        return len(marked), 0
    still_here = set(
        WebSocketSession.objects.filter(connected=True)
        .filter(channel_name__in={channel for channel, _ in left}, user_id__in={user for _, user in left})
        .values_list("channel_name", "user_id")
    )
    gone = sorted(left - still_here, key=lambda pair: (pair[0], str(pair[1])))
    if not gone:
        return len(marked), 0
    user_model: Any = get_user_model()
    names = {user.pk: user.get_username() for user in user_model.objects.filter(pk__in={user for _, user in gone})}
    for channel_name, user_id in gone:
        announce("leave", channel_name, PresentUser(id=user_id, name=str(names.get(user_id, ""))))
    return len(marked), len(gone)


def _mark_returning_users(stale: WebSocketSessionQuerySet) -> list[tuple[str, Any]]:
    """``stale.mark_disconnected()`` as one UPDATE ... RETURNING: the channel and user of every session it marked."""
    from django.db import connections, router
    from django.utils import timezone

    using = router.db_for_write(WebSocketSession)
    connection = connections[using]
    quote = connection.ops.quote_name
    meta = WebSocketSession._meta
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    connected, updated = quote(meta.get_field("connected").column), quote(meta.get_field("updated_on").column)
    channel, user = quote(meta.get_field("channel_name").column), quote(meta.get_field("user").column)
    selected, params = stale.filter(connected=True).values("pk").query.sql_with_params()
    now = meta.get_field("updated_on").get_db_prep_value(timezone.now(), connection)
    # Only quoted identifiers and the ORM's own compiled SQL are interpolated; every value is a query parameter.
    sql = (
        f"UPDATE {table} SET {connected} = %s, {updated} = %s "  # noqa: S608
        f"WHERE {pk} IN (SELECT * FROM ({selected}) stale) RETURNING {channel}, {user}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [False, now, *params])
        return [(row[0], row[1]) for row in cursor.fetchall()]
