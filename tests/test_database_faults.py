"""Every Lambda entry point against a PostgreSQL that restarts or stops answering, through ``tests.faults.TcpProxy``.

The test database's connection is pointed at the proxy; each entry point is warmed (one invocation, so the
connection is kept as in a warm container), then the proxy cuts the connections. After a restart, the first
invocation must succeed; while the database does not answer, an invocation must fail within the connect timeout.
Those tests need PostgreSQL; the connect timeout setting and the failure results are tested on any database.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connections

from infra import handlers
from tests import events as samples
from tests.faults import TcpProxy
from tests.test_http_handler import http_api_v2_event

needs_postgresql = pytest.mark.skipif(
    "postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
    reason="needs PostgreSQL: the proxy cuts TCP connections to a database server, and SQLite has none",
)

CONNECT_TIMEOUT = 2  # seconds; psycopg treats anything lower as 2
# Set on the connection here so the tests can tell it never reaches a log line; the local server trusts the
# test user, so it is never asked for.
PASSWORD = "db-password-never-logged"
_ids = itertools.count(1)


@pytest.fixture
def proxy(transactional_db) -> Iterator[TcpProxy]:
    """The default database connection, on this thread and the invoker's, goes through a proxy the test cuts."""
    connection = connections["default"]
    settings_dict = connection.settings_dict  # shared by every thread's connection to the alias
    saved = {key: settings_dict.get(key) for key in ("HOST", "PORT", "PASSWORD", "OPTIONS")}
    upstream = (settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432))
    with TcpProxy(upstream) as running:
        connection.close()
        settings_dict.update(
            HOST="127.0.0.1",
            PORT=str(running.port),
            PASSWORD=PASSWORD,
            OPTIONS={**(saved["OPTIONS"] or {}), "connect_timeout": CONNECT_TIMEOUT},
        )
        try:
            yield running
        finally:
            connection.close()
            settings_dict.update(saved)


# --- The entry points, each with an invocation that needs the database ----------------------------------------


def websocket_connect(request: pytest.FixtureRequest) -> Callable[[], dict[str, Any]]:
    request.getfixturevalue("ws_test_views")
    return lambda: handlers.websocket_handler(samples.connect_event(f"conn-{next(_ids)}="), None)


def http_page_for_a_user(request: pytest.FixtureRequest) -> Callable[[], dict[str, Any]]:
    settings = request.getfixturevalue("settings")
    settings.ALLOWED_HOSTS = ["abc123.execute-api.eu-west-1.amazonaws.com"]
    settings.WEBSOCKETS = {"CLIENT_URL": "wss://ws.example.com"}
    client = request.getfixturevalue("client")
    client.force_login(request.getfixturevalue("django_user_model").objects.create_user("ada"))
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    # The chat room loads the session and its user.
    return lambda: handlers.http_handler(http_api_v2_event("/chat/lobby/", cookies=[cookie]), None)


def cleanup_sessions(request: pytest.FixtureRequest) -> Callable[[], dict[str, Any]]:
    return lambda: handlers.cleanup_handler(samples.schedule_event("sessions"), None)


def manage_showmigrations(request: pytest.FixtureRequest) -> Callable[[], dict[str, Any]]:
    return lambda: handlers.manage_handler({"manage": "showmigrations websockets_app"}, None)


def fanout_event(request: pytest.FixtureRequest) -> dict[str, Any]:
    """An SQS batch for one connection the stub answers as gone: marking it disconnected is the query."""
    stub = request.getfixturevalue("management_stub")
    request.getfixturevalue("make_session")(connection_id="gone-1")
    batch = {
        "v": 1,
        "endpoint": stub.url,
        "region": "eu-west-1",
        "encoding": "base64",
        "payload": base64.b64encode(b"hi").decode(),
        "connections": ["gone-1"],
    }
    return samples.sqs_event(json.dumps(batch))


def fanout_to_a_gone_connection(request: pytest.FixtureRequest) -> Callable[[], dict[str, Any]]:
    event = fanout_event(request)
    return lambda: handlers.fanout_handler(event, None)


def dispatched_fanout(request: pytest.FixtureRequest) -> Callable[[], dict[str, Any]]:
    event = fanout_event(request)
    return lambda: handlers.handler(event, None)


ENTRY_POINTS: dict[str, Callable[[pytest.FixtureRequest], Callable[[], dict[str, Any]]]] = {
    "websocket": websocket_connect,
    "http": http_page_for_a_user,
    "cleanup": cleanup_sessions,
    "manage": manage_showmigrations,
    "fanout": fanout_to_a_gone_connection,
    "handler": dispatched_fanout,
}


def succeeded(kind: str, result: dict[str, Any]) -> bool:
    if kind in ("websocket", "http"):
        return result["statusCode"] == 200
    if kind == "cleanup":
        return result["ok"] is True
    if kind == "manage":
        return result["exit_code"] == 0
    return result == {"batchItemFailures": []}  # fan-out, directly or through the dispatcher


# --- The database restarts -------------------------------------------------------------------------------------


@needs_postgresql
@pytest.mark.parametrize("kind", list(ENTRY_POINTS))
def test_the_first_invocation_after_the_database_restarts_succeeds(proxy, request, kind):
    invoke = ENTRY_POINTS[kind](request)
    assert succeeded(kind, invoke())  # warm: the connection is kept for the next invocation
    proxy.refuse()  # the server goes down: its connections are reset, new ones refused
    proxy.restore()  # and comes back
    accepted = proxy.accepted

    assert succeeded(kind, invoke())
    assert proxy.accepted > accepted  # on a new connection


# --- The database does not answer ------------------------------------------------------------------------------


def outcome_of(invoke: Callable[[], dict[str, Any]]) -> dict[str, Any] | Exception:
    try:
        return invoke()
    except Exception as exc:
        return exc


def failed_cleanly(kind: str, outcome: dict[str, Any] | Exception) -> bool:
    if kind in ("websocket", "http"):
        return isinstance(outcome, dict) and outcome["statusCode"] == 500
    if kind == "manage":
        return isinstance(outcome, dict) and outcome["exit_code"] == 1
    # Cleanup and fan-out raise, so Lambda counts an error and the schedule or SQS tries again.
    from websockets_app.aws_lambda.database import DatabaseUnavailable

    return isinstance(outcome, DatabaseUnavailable)


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


@needs_postgresql
@pytest.mark.parametrize("kind", list(ENTRY_POINTS))
def test_an_unreachable_database_fails_the_invocation_within_the_connect_timeout(proxy, request, caplog, kind):
    invoke = ENTRY_POINTS[kind](request)
    assert succeeded(kind, invoke())
    proxy.blackhole()  # its connection is reset; new ones are accepted and never answered
    unreachable = f"Database unreachable: cannot connect to the postgresql database at 127.0.0.1:{proxy.port}"

    # The first invocation finds its connection dead; the next one starts without a connection.
    for attempt in ("warm", "without a connection"):
        caplog.clear()
        started = time.monotonic()
        outcome = outcome_of(invoke)
        assert time.monotonic() - started < CONNECT_TIMEOUT + 2, attempt
        assert failed_cleanly(kind, outcome), (attempt, outcome)
        assert PASSWORD not in caplog.text
        if kind == "http" or (attempt == "warm" and kind == "websocket"):
            # Django's own health check or first query found it dead, and its error handling answered (and logged)
            assert problems(caplog), attempt
            continue
        [line] = problems(caplog)
        assert line.startswith(unreachable), (attempt, line)


# --- The connect timeout setting -------------------------------------------------------------------------------

POSTGRES_URL = "postgres://app:pw@db.example.com:5432/app"
LOCAL = {"DJANGO_DEBUG": "1"}  # no secret key needed


def connect_timeout(env: dict[str, str]) -> object:
    from tests.test_settings import settings_value

    return settings_value('settings.DATABASES["default"]["OPTIONS"].get("connect_timeout")', {**LOCAL, **env})


def test_postgresql_connections_give_up_after_five_seconds_by_default():
    assert connect_timeout({"DATABASE_URL": POSTGRES_URL}) == 5


def test_the_connect_timeout_is_read_from_the_environment():
    assert connect_timeout({"DATABASE_URL": POSTGRES_URL, "DATABASE_CONNECT_TIMEOUT": "3"}) == 3


def test_a_connect_timeout_in_the_database_url_wins():
    url = f"{POSTGRES_URL}?connect_timeout=9"
    assert connect_timeout({"DATABASE_URL": url, "DATABASE_CONNECT_TIMEOUT": "3"}) == 9


@pytest.mark.parametrize("value", ["soon", "1", "-5"])
def test_a_connect_timeout_that_is_no_timeout_is_refused(value):
    from tests.test_settings import run_python

    code = "import django; django.setup()"
    env = {**LOCAL, "DJANGO_SETTINGS_MODULE": "project.settings", "DATABASE_URL": POSTGRES_URL}
    result = run_python("-c", code, env={**env, "DATABASE_CONNECT_TIMEOUT": value})
    assert result.returncode != 0
    assert "DATABASE_CONNECT_TIMEOUT must be" in result.stderr


def test_sqlite_has_no_connect_timeout():
    assert connect_timeout({"DATABASE_URL": "sqlite:///tmp/x.sqlite3"}) is None


REFUSING_ENTRY_POINTS = {
    "websocket": (handlers.websocket_handler, samples.message_event({"action": "echo"})),
    "cleanup": (handlers.cleanup_handler, samples.schedule_event()),
    "manage": (handlers.manage_handler, {"manage": "check"}),
    "fanout": (handlers.fanout_handler, samples.sqs_event("{}")),
    "handler": (handlers.handler, samples.sqs_event("{}")),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", list(REFUSING_ENTRY_POINTS))
def test_a_refused_connection_ends_the_invocation_with_one_line_and_no_password(kind, monkeypatch, caplog):
    """On any database: the driver's message is the one place a careless driver could put the password."""
    from django.db import OperationalError

    connection = connections["default"]
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", PASSWORD)

    def refuse() -> None:
        raise OperationalError(f"connection failed: password {PASSWORD} refused\n(twice)")

    monkeypatch.setattr(connection, "ensure_connection", refuse)
    entry_point, event = REFUSING_ENTRY_POINTS[kind]

    outcome = outcome_of(lambda: entry_point(event, None))

    assert failed_cleanly(kind, outcome), outcome
    [line] = problems(caplog)
    assert line.startswith(f"Database unreachable: cannot connect to the {connection.vendor} database ")
    assert line.endswith("connection failed: password ******** refused (twice)")
    assert PASSWORD not in caplog.text
    assert PASSWORD not in json.dumps(outcome if isinstance(outcome, dict) else str(outcome))


@needs_postgresql
def test_pages_that_read_no_table_are_served_while_the_database_does_not_answer(proxy, caplog, settings):
    settings.ALLOWED_HOSTS = ["abc123.execute-api.eu-west-1.amazonaws.com"]
    proxy.blackhole()
    started = time.monotonic()

    home = handlers.http_handler(http_api_v2_event("/"), None)
    script = handlers.http_handler(http_api_v2_event("/static/websockets_app/ws-client.js"), None)

    assert (home["statusCode"], script["statusCode"]) == (200, 200)
    assert time.monotonic() - started < 1
    assert not problems(caplog)


# --- The local gateway's worker threads ------------------------------------------------------------------------


@needs_postgresql
def test_the_local_gateways_workers_recover_and_fail_fast_like_warm_containers(proxy, ws_test_views, caplog):
    from infra.local.invokers import WEBSOCKET, InProcessInvoker

    async def session() -> list[dict[str, Any]]:
        invoker = InProcessInvoker(workers=1)  # one thread: every invocation meets the connection it kept

        async def connect() -> dict[str, Any]:
            return await invoker.invoke(WEBSOCKET, samples.connect_event(f"conn-{next(_ids)}="))

        try:
            results = [await connect()]
            proxy.refuse()
            proxy.restore()
            results.append(await connect())
            proxy.blackhole()
            for _ in range(2):
                started = time.monotonic()
                results.append(await connect())
                assert time.monotonic() - started < CONNECT_TIMEOUT + 2
            return results
        finally:
            await invoker.close()

    results = asyncio.run(session())

    assert [result["statusCode"] for result in results] == [200, 200, 500, 500]
    assert problems(caplog)[-1].startswith("Database unreachable: cannot connect to the postgresql database at")
