"""Database connections across Lambda invocations: each invocation is treated like one Django request.

Django checks its connections around web requests only (``request_started`` and ``request_finished`` call
``close_old_connections``). A warm container keeps its connection between invocations (CONN_MAX_AGE), so an entry
point that does not go through WSGI (a schedule, a queue consumer, a command) would otherwise keep using a
connection the database dropped, failing on every invocation until the container is recycled. ``invocation`` does
for those entry points what Django does for a request, and, for all of them, opens a missing connection before the
work so that a database that cannot be reached ends the invocation within the connect timeout with one log line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, OperationalError, close_old_connections, connections
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)


class DatabaseUnavailable(RuntimeError):
    """The database did not accept a connection. The message names it by engine, host, port and name only."""


@contextmanager
def invocation(*, through_wsgi: bool) -> Iterator[None]:
    """Run one invocation's work with a usable connection to the default database, or raise DatabaseUnavailable.

    ``through_wsgi``: the work is a Django request (the WebSocket and HTTP entry points), whose signals already
    close broken and expired connections and health-check a kept one (CONN_HEALTH_CHECKS) before its first query;
    then only a missing connection is opened here, so nothing is checked twice. Otherwise the same is done here: a
    broken or expired connection is closed before and after the work, and a kept one is health-checked (or
    replaced) before it.
    """
    if not through_wsgi:
        close_old_connections()
    try:
        _connect(connections[DEFAULT_DB_ALIAS], health_check=not through_wsgi)
        yield
    finally:
        if not through_wsgi:
            close_old_connections()


def _connect(connection: BaseDatabaseWrapper, *, health_check: bool) -> None:
    if health_check:
        connection.close_if_health_check_failed()
    if connection.connection is not None:
        return
    try:
        connection.ensure_connection()
    except OperationalError as exc:
        message = f"Database unreachable: cannot connect to {describe(connection)}: {_reason(exc, connection)}"
        logger.error(message, extra={"database": connection.alias})
        raise DatabaseUnavailable(message) from None


def describe(connection: BaseDatabaseWrapper) -> str:
    """Which database, without the user or password: "the postgresql database at db.example.com:5432/app"."""
    settings = connection.settings_dict
    host = settings.get("HOST") or "localhost"
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    if connection.vendor == "sqlite":
        return f"the sqlite database {settings.get('NAME')}"
    return f"the {connection.vendor} database at {host}{port}/{settings.get('NAME')}"


def _reason(exc: Exception, connection: BaseDatabaseWrapper) -> str:
    # The driver's message is libpq's (host, port, what failed) on one line; a password never belongs in it.
    reason = " ".join(str(exc).split())[:500]
    password = connection.settings_dict.get("PASSWORD")
    return reason.replace(password, "********") if password else reason
