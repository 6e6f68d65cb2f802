"""The two queries every WebSocket message costs, with their SQL built once per process.

Each message loads its session together with the user and the gateway (one SELECT with two LEFT JOINs) and
counts itself (one UPDATE). Through the ORM, compiling that SELECT costs about 0.7 ms of CPU per message, more
than everything else a message does; the SQL never changes, so it is built once, from the models' own metadata
(table and column names, quoting, the backend's value converters), and only executed per message. The objects
are made with ``Model.from_db``, exactly as the ORM makes them; the tests check both give equal objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Field, Model
from django.utils import timezone

from websockets_app.models import ApiGateway, WebSocketSession

Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class _Part:
    """One model's columns in the joined row: where they are and how to turn them into attribute values."""

    model: type[Model]
    attnames: list[str]
    converters: list[tuple[list[Converter], Any]]
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.attnames)

    def build(self, alias: str, row: tuple, connection: Any) -> Model | None:
        values = list(row[self.start : self.end])
        if values[0] is None:  # the primary key: NULL when the LEFT JOIN found no row
            return None
        for index, (converters, column) in enumerate(self.converters):
            for converter in converters:
                values[index] = converter(values[index], column, connection)
        return self.model.from_db(alias, self.attnames, values)


@dataclass(frozen=True)
class _Statements:
    select: str
    update: str
    session: _Part
    user: _Part
    gateway: _Part


_cache: dict[tuple[str, str], _Statements] = {}


def _part(model: type[Model], table_alias: str, start: int, connection: Any) -> _Part:
    fields: list[Field] = list(model._meta.concrete_fields)
    converters = []
    for field in fields:
        column = field.get_col(table_alias)
        converters.append((connection.ops.get_db_converters(column) + field.get_db_converters(connection), column))
    return _Part(model, [field.attname for field in fields], converters, start)


def _statements(alias: str) -> _Statements:
    connection = connections[alias]
    key = (alias, connection.vendor)
    if key in _cache:
        return _cache[key]
    quote = connection.ops.quote_name
    user_model = get_user_model()
    session = _part(WebSocketSession, "s", 0, connection)
    user = _part(user_model, "u", session.end, connection)
    gateway = _part(ApiGateway, "g", user.end, connection)

    def columns(part: _Part, table_alias: str) -> list[str]:
        return [f"{table_alias}.{quote(field.column)}" for field in part.model._meta.concrete_fields]

    session_meta = WebSocketSession._meta
    # Only quoted identifiers from the models' metadata are interpolated; every value is a query parameter.
    names = ", ".join(columns(session, "s") + columns(user, "u") + columns(gateway, "g"))
    select = (
        f"SELECT {names} "  # noqa: S608
        f"FROM {quote(session_meta.db_table)} s "
        f"LEFT OUTER JOIN {quote(user_model._meta.db_table)} u "
        f"ON s.{quote(session_meta.get_field('user').column)} = u.{quote(user_model._meta.pk.column)} "
        f"LEFT OUTER JOIN {quote(ApiGateway._meta.db_table)} g "
        f"ON s.{quote(session_meta.get_field('api_gateway').column)} = g.{quote(ApiGateway._meta.pk.column)} "
        f"WHERE s.{quote(session_meta.get_field('connection_id').column)} = %s "
        f"AND s.{quote(session_meta.get_field('connected').column)} = %s"
    )
    count = quote(session_meta.get_field("request_count").column)
    update = (
        f"UPDATE {quote(session_meta.db_table)} SET {count} = {count} + 1, "  # noqa: S608
        f"{quote(session_meta.get_field('updated_on').column)} = %s "
        f"WHERE {quote(session_meta.pk.column)} = %s"
    )
    _cache[key] = statements = _Statements(select, update, session, user, gateway)
    return statements


def connected_session(connection_id: str, using: str = "default") -> WebSocketSession | None:
    """The connected session with this id, its ``user`` and ``api_gateway`` loaded; None if there is none."""
    statements = _statements(using)
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(statements.select, [connection_id, True])
        row = cursor.fetchone()
    if row is None:
        return None
    session = statements.session.build(using, row, connection)
    # Assigning through the descriptors fills the relation caches, so neither access runs a query.
    session.user = statements.user.build(using, row, connection)
    session.api_gateway = statements.gateway.build(using, row, connection)
    return session


def count_message(session: WebSocketSession, using: str = "default") -> None:
    """Add one to the session's request count and touch ``updated_on``, in one UPDATE."""
    statements = _statements(using)
    connection = connections[using]
    now = timezone.now()
    updated_on = WebSocketSession._meta.get_field("updated_on").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(statements.update, [updated_on, session.pk])
    session.request_count += 1
    session.updated_on = now
