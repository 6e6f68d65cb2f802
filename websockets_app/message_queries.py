"""The two queries every WebSocket message costs, with their SQL built once per process.

Each message loads its session together with the user and the gateway (one SELECT with two LEFT JOINs; of the
gateway only what sending to the connection reads, ``endpoints.ENDPOINT_FIELDS``, the rest deferred as
``QuerySet.only`` defers it) and counts itself (one UPDATE, which also enforces the per-connection message rate
limit). Through the ORM,
compiling that SELECT costs more CPU per message than everything else a message does (docs/performance.md,
measured by ``tests/bench/events.py``); the SQL never changes, so it is built once, from the models' own
metadata (table and column names, quoting, the backend's value converters), and only executed per message. The
objects are made as ``Model.from_db`` makes them (the same values, signals and state; ``_make``); the tests check
the ORM and this module give equal objects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar, overload

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, router
from django.db.models import DEFERRED, Field, Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from websockets_app.messaging.endpoints import ENDPOINT_FIELDS
from websockets_app.models import ApiGateway, WebSocketSession

Converter = Callable[[Any, Any, Any], Any]


M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class _Part(Generic[M]):
    """One model's columns in the joined row: where they are and how to turn them into attribute values."""

    model: type[M]
    attnames: list[str]
    # (index in this part, the column's converters, the column): only the columns that have any, but not those in
    # ``datetimes``.
    converters: list[tuple[int, list[Converter], Any]]
    # SQLite's datetime columns (text), parsed by ``_parse_datetimes`` instead of the backend's converter.
    datetimes: tuple[int, ...]
    # Whether the instance can be made by ``_make`` rather than ``Model.from_db`` (see ``_makes_plainly``).
    plain: bool
    start: int
    # What the SELECT names for each column, in order.
    selected: list[str]
    # For a part that loads only some of the model's fields: the arguments ``Model.from_db`` gives ``pre_init``,
    # DEFERRED for every field, and where each loaded value goes in them. None when every field is loaded.
    deferred_args: list[Any] | None = None
    positions: tuple[int, ...] = ()
    # Where the primary key is among the columns: NULL there means a LEFT JOIN found no row.
    pk_index: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.attnames)

    def build(self, alias: str, row: tuple[Any, ...], connection: Any) -> M:
        values = list(row[self.start : self.end])
        for index, converters, column in self.converters:
            value = values[index]
            for converter in converters:
                value = converter(value, column, connection)
            values[index] = value
        if self.datetimes:
            _parse_datetimes(values, self.datetimes, connection)
        if not self.plain:
            return self.model.from_db(alias, self.attnames, values)
        if self.deferred_args is None:
            return _make(self.model, alias, self.attnames, values, values)
        init_args = list(self.deferred_args)
        for position, value in zip(self.positions, values, strict=True):
            init_args[position] = value
        return _make(self.model, alias, self.attnames, values, init_args)

    def build_joined(self, alias: str, row: tuple[Any, ...], connection: Any) -> M | None:
        """The model a LEFT JOIN brought, or None when it found no row (its primary key is NULL)."""
        return None if row[self.start + self.pk_index] is None else self.build(alias, row, connection)


def _parse_datetimes(values: list[Any], indexes: tuple[int, ...], connection: Any) -> None:
    """What SQLite's ``convert_datetimefield_value`` gives for each of these columns, with the settings read once
    per row instead of once per column and ``datetime.fromisoformat`` called straight (Django's ``parse_datetime``
    tries it first too); stored UTC text is parsed with its offset appended, which gives the aware value in one
    call. Kept over the backend's converter, measured several times slower for the seven datetime columns of a
    message's row (docs/performance.md, the events benchmark)."""
    aware = settings.USE_TZ
    zone = connection.timezone if aware else None
    suffix = "+00:00" if zone is UTC else ""
    for index in indexes:
        value = values[index]
        if value is None:
            continue
        if not isinstance(value, datetime):
            try:
                value = datetime.fromisoformat(value + suffix)
            except (TypeError, ValueError):
                values[index] = connection.ops.convert_datetimefield_value(value, None, connection)
                continue
        if aware and value.utcoffset() is None:
            value = value.replace(tzinfo=zone)  # timezone.make_aware, without its checks
        values[index] = value


def _make(model: type[M], alias: str, attnames: list[str], values: list[Any], init_args: list[Any]) -> M:
    """``model.from_db(alias, attnames, values)`` for a model ``_makes_plainly`` accepts: the same signals with the
    same arguments (``init_args``: the values, with DEFERRED for each field not loaded), the same state, the loaded
    attributes set in one ``__dict__`` update instead of one ``setattr`` each (a field not loaded is deferred, as
    ``from_db`` leaves it). Kept over ``from_db``, measured slower for the three instances of a message
    (docs/performance.md)."""
    pre_init.send(sender=model, args=tuple(init_args), kwargs={})
    instance = model.__new__(model)
    instance._state = ModelState()
    instance.__dict__.update(zip(attnames, values, strict=True))
    post_init.send(sender=model, instance=instance)
    instance._state.adding = False
    instance._state.db = alias
    return instance


def _makes_plainly(model: type[Model], attnames: list[str]) -> bool:
    """Whether ``_make`` gives what ``Model.from_db`` gives: neither ``from_db`` nor ``__init__`` is overridden
    (nor is an ``__init__`` called after ``Model``'s), and setting each attribute only stores it in the instance's
    ``__dict__`` (a plain field, or a foreign key's id on an instance that has nothing cached yet)."""
    mro = model.__mro__
    if model.__init__ is not Model.__init__ or model.from_db.__func__ is not Model.from_db.__func__:  # type: ignore[attr-defined]
        return False
    if any("__init__" in vars(base) for base in mro[mro.index(Model) + 1 : -1]):
        return False
    for attname in attnames:
        descriptor = next((vars(base)[attname] for base in mro if attname in vars(base)), None)
        if not isinstance(descriptor, DeferredAttribute):
            return False
        setter = getattr(type(descriptor), "__set__", None)
        if setter is not None and setter is not vars(ForeignKeyDeferredAttribute)["__set__"]:
            return False
    return True


@dataclass(frozen=True)
class MessageRateLimit:
    """At most ``messages`` per connection in a window of ``window_seconds`` that opens with its first message."""

    messages: int
    window_seconds: int


@dataclass(frozen=True)
class CountedMessage:
    """What ``count_message`` wrote, so that ``uncount_message`` can take exactly that back."""

    counted_at: datetime
    limited: bool
    previous_updated_on: datetime
    previous_window_start: datetime | None
    previous_window_count: int


@dataclass(frozen=True)
class _Statements:
    select: str
    update: str
    limited_update: str
    uncount: str
    session: _Part[WebSocketSession]
    user: _Part[Any]  # the project's user model
    gateway: _Part[ApiGateway]


_cache: dict[tuple[str, str], _Statements] = {}
_USER = WebSocketSession._meta.get_field("user")
_GATEWAY = WebSocketSession._meta.get_field("api_gateway")


def _part(
    model: type[M], table_alias: str, start: int, connection: Any, only: Collection[str] | None = None
) -> _Part[M]:
    """The part of the SELECT for ``model``: every concrete field, or its primary key and the fields named in
    ``only`` (the others deferred, as ``QuerySet.only`` leaves them)."""
    every: list[Field[Any, Any]] = list(model._meta.concrete_fields)
    fields = [f for f in every if only is None or f.primary_key or f.name in only]
    converters, datetimes, selected = [], [], []
    sqlite = connection.vendor == "sqlite"
    ops = type(connection.ops)
    sqlite_datetime = getattr(ops, "convert_datetimefield_value", None)
    sqlite_boolean = getattr(ops, "convert_booleanfield_value", None)
    for index, field in enumerate(fields):
        column = field.get_col(table_alias)
        # Field.get_db_converters is Django's, but django-stubs do not declare it.
        field_converters = field.get_db_converters(connection)  # type: ignore[attr-defined]
        column_converters = connection.ops.get_db_converters(column) + field_converters
        only = getattr(column_converters[0], "__func__", None) if len(column_converters) == 1 else None
        name = f"{table_alias}.{connection.ops.quote_name(field.column)}"
        if sqlite and _undeclared_gives_the_same(field, connection, only in (sqlite_datetime, sqlite_boolean)):
            # Selected as an expression (SQLite's unary + returns the value as stored), which has no declared
            # type: the driver hands over the stored value without looking up a converter for the column's
            # declared type, or running Django's registered "datetime" and "bool" ones before the backend's
            # converter (or _parse_datetimes), which turns the stored text or integer into the same value.
            # Measured in docs/performance.md (the events benchmark).
            name = f"+{name}"
        selected.append(name)
        if sqlite and only is not None and only is sqlite_datetime:
            datetimes.append(index)
        elif column_converters:
            converters.append((index, column_converters, column))
    attnames = [field.attname for field in fields]
    return _Part(
        model,
        attnames,
        converters,
        tuple(datetimes),
        _makes_plainly(model, attnames),
        start,
        selected,
        deferred_args=None if len(fields) == len(every) else [DEFERRED] * len(every),
        positions=tuple(every.index(field) for field in fields),
        pk_index=next(index for index, field in enumerate(fields) if field.primary_key),
    )


def _undeclared_gives_the_same(field: Field[Any, Any], connection: Any, converted_from_stored: bool) -> bool:
    """Whether a SQLite column gives the same value selected without its declared type: the driver registers
    no converter for that type (the first word of the declaration, as sqlite3 matches it), or the column's own
    converters turn the stored value into what the registered one gives (``converted_from_stored``)."""
    import sqlite3

    declared = re.split(r"[\s(]", field.db_type(connection) or "", maxsplit=1)[0].upper()
    return converted_from_stored or declared not in sqlite3.converters


# Kept over the plain ORM, which costs a message several times the CPU (docs/performance.md, tests/bench/events.py).
def _statements(connection: Any) -> _Statements:
    key = (connection.alias, connection.vendor)
    if key in _cache:
        return _cache[key]
    quote = connection.ops.quote_name
    user_model = get_user_model()
    session = _part(WebSocketSession, "s", 0, connection)
    user = _part(user_model, "u", session.end, connection)
    # The gateway with what sending to the connection reads (its endpoint); the rest loads if a handler reads it.
    gateway = _part(ApiGateway, "g", user.end, connection, only=ENDPOINT_FIELDS)

    session_meta = WebSocketSession._meta
    # Only quoted identifiers from the models' metadata are interpolated; every value is a query parameter.
    names = ", ".join(session.selected + user.selected + gateway.selected)
    select = (
        f"SELECT {names} "  # noqa: S608
        f"FROM {quote(session_meta.db_table)} s "
        f"LEFT OUTER JOIN {quote(user_model._meta.db_table)} u "
        f"ON s.{quote(session_meta.get_field('user').column)} = u.{quote(user_model._meta.pk.column)} "
        f"LEFT OUTER JOIN {quote(ApiGateway._meta.db_table)} g "
        f"ON s.{quote(session_meta.get_field('api_gateway').column)} = g.{quote(ApiGateway._meta.pk.column)} "
        f"WHERE s.{quote(session_meta.get_field('connection_id').column)} = %(connection_id)s "
        f"AND s.{quote(session_meta.get_field('connected').column)} = %(connected)s"
    )
    table, pk = quote(session_meta.db_table), quote(session_meta.pk.column)
    count = quote(session_meta.get_field("request_count").column)
    updated = quote(session_meta.get_field("updated_on").column)
    start = quote(session_meta.get_field("message_window_start").column)
    in_window = quote(session_meta.get_field("message_window_count").column)
    update = f"UPDATE {table} SET {count} = {count} + 1, {updated} = %(now)s WHERE {pk} = %(pk)s"  # noqa: S608
    # The rate limit, checked and counted by one statement. PostgreSQL and SQLite compute every SET expression
    # from the row as it was, and a concurrent UPDATE of the same row waits for this one (PostgreSQL re-reads the
    # row and re-checks the WHERE once the other commits; SQLite runs one writer at a time): however many messages
    # race on one connection, no more than the limit match. No row matched means over the limit.
    expired = f"({start} IS NULL OR {start} <= %(expired_before)s)"  # the window began window_seconds ago or more
    limited_update = (
        f"UPDATE {table} SET {count} = {count} + 1, {updated} = %(now)s, "  # noqa: S608
        f"{in_window} = CASE WHEN {expired} THEN 1 ELSE {in_window} + 1 END, "
        f"{start} = CASE WHEN {expired} THEN %(now)s ELSE {start} END "
        f"WHERE {pk} = %(pk)s AND ({expired} OR {in_window} < %(messages)s)"
    )
    # Takes one counted message back. A window this message opened, and no other joined, gets its previous start
    # and count back; otherwise the window it was counted in (the one it opened or the one loaded with the
    # session) gives its place back; updated_on returns to its old value unless another message touched it since.
    opened = f"({start} = %(counted_at)s AND {in_window} = 1)"
    uncount = (
        f"UPDATE {table} SET {count} = {count} - 1, "  # noqa: S608
        f"{updated} = CASE WHEN {updated} = %(counted_at)s THEN %(previous_updated_on)s ELSE {updated} END, "
        f"{in_window} = CASE WHEN {opened} THEN %(previous_window_count)s "
        f"WHEN ({start} = %(loaded_start)s OR {start} = %(counted_at)s) AND {in_window} > 0 "
        f"THEN {in_window} - 1 ELSE {in_window} END, "
        f"{start} = CASE WHEN {opened} THEN %(previous_start)s ELSE {start} END "
        f"WHERE {pk} = %(pk)s"
    )
    _cache[key] = statements = _Statements(select, update, limited_update, uncount, session, user, gateway)
    return statements


def connected_session(connection_id: str, using: str | None = None) -> WebSocketSession | None:
    """The connected session with this id, its ``user`` and ``api_gateway`` loaded; None if there is none.

    Read from ``using``, else from the database the routers choose for reading sessions (as the ORM would).
    """
    using = using or router.db_for_read(WebSocketSession)
    connection = connections[using]
    statements = _statements(connection)
    with connection.cursor() as cursor:
        cursor.execute(statements.select, {"connection_id": connection_id, "connected": True})
        row = cursor.fetchone()
    if row is None:
        return None
    session = statements.session.build(using, row, connection)
    # Filled as select_related fills them (the relation caches, straight), so neither access runs a query; the
    # foreign key columns already hold the joined rows' keys.
    _USER.set_cached_value(session, statements.user.build_joined(using, row, connection))
    _GATEWAY.set_cached_value(session, statements.gateway.build_joined(using, row, connection))
    return session


def _datetime_value(value: datetime | None, connection: Any) -> Any:
    # What DateTimeField.get_db_prep_value gives for an aware datetime (or None), without its checks for naive ones.
    if connection.vendor == "sqlite" and value is not None and value.utcoffset() is not None and settings.USE_TZ:
        # SQLite's adapt_datetimefield_value for an aware datetime, without its expression and settings checks:
        # kept over it, measured slower on the message path (docs/performance.md, the events benchmark).
        return str(value.astimezone(connection.timezone).replace(tzinfo=None))
    return connection.ops.adapt_datetimefield_value(value)


@overload
def count_message(session: WebSocketSession, limit: None = None, using: str | None = None) -> CountedMessage: ...


@overload
def count_message(
    session: WebSocketSession, limit: MessageRateLimit, using: str | None = None
) -> CountedMessage | None: ...


def count_message(
    session: WebSocketSession, limit: MessageRateLimit | None = None, using: str | None = None
) -> CountedMessage | None:
    """Add one to the session's request count and touch ``updated_on``, in one UPDATE.

    With a ``limit``, the same UPDATE counts the message in the connection's current window, or opens a new one,
    only while the window holds fewer than ``limit.messages``: None means over the limit, and nothing was written.
    Written to ``using``, else to the database the routers choose for writing this session (as ``save`` would).
    """
    using = using or router.db_for_write(WebSocketSession, instance=session)
    connection = connections[using]
    statements = _statements(connection)
    now = timezone.now()
    counted = CountedMessage(
        counted_at=now,
        limited=limit is not None,
        previous_updated_on=session.updated_on,
        previous_window_start=session.message_window_start,
        previous_window_count=session.message_window_count,
    )
    now_value = _datetime_value(now, connection)
    with connection.cursor() as cursor:
        if limit is None:
            cursor.execute(statements.update, {"now": now_value, "pk": session.pk})
        else:
            window_opened_after = now - timedelta(seconds=limit.window_seconds)
            expired_before = _datetime_value(window_opened_after, connection)
            parameters = {"now": now_value, "expired_before": expired_before, "pk": session.pk}
            cursor.execute(statements.limited_update, {**parameters, "messages": limit.messages})
            if cursor.rowcount == 0:
                return None
    session.request_count += 1
    session.updated_on = now
    if limit is not None:
        start = session.message_window_start
        if start is None or start <= window_opened_after:
            session.message_window_start, session.message_window_count = now, 1
        else:
            session.message_window_count += 1
    return counted


def uncount_message(session: WebSocketSession, counted: CountedMessage, using: str | None = None) -> None:
    """Take back a message ``count_message`` counted (its handler refused it), in one UPDATE, on the database
    ``count_message`` chose."""
    using = using or router.db_for_write(WebSocketSession, instance=session)
    connection = connections[using]
    statements = _statements(connection)
    counted_at = _datetime_value(counted.counted_at, connection)
    previous_start = _datetime_value(counted.previous_window_start, connection)
    # Without a limit the window was not touched: only a start equal to this message's time (never) matches.
    loaded_start = previous_start if counted.limited else counted_at
    parameters = {
        "counted_at": counted_at,
        "previous_updated_on": _datetime_value(counted.previous_updated_on, connection),
        "previous_window_count": counted.previous_window_count,
        "loaded_start": loaded_start,
        "previous_start": previous_start,
        "pk": session.pk,
    }
    with connection.cursor() as cursor:
        cursor.execute(statements.uncount, parameters)
    session.request_count -= 1
    session.updated_on = counted.previous_updated_on
    session.message_window_start = counted.previous_window_start
    session.message_window_count = counted.previous_window_count


def retry_after(session: WebSocketSession, limit: MessageRateLimit) -> int:
    """Whole seconds until the loaded session's window ends (at least 1, at most the window)."""
    start = session.message_window_start
    if start is None:
        return limit.window_seconds
    remaining = (start + timedelta(seconds=limit.window_seconds) - timezone.now()).total_seconds()
    return max(1, min(limit.window_seconds, math.ceil(remaining)))
