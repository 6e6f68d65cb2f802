"""The per-connection message rate limit: checked and counted in the one UPDATE a message already costs, before the
handler runs; over it a message is a 429 with Retry-After that writes nothing and runs nothing."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import path

from infra.handlers import handler
from tests.events import API_ID, CONNECTION_ID, DOMAIN, STAGE, message_event
from websockets_app import handlers
from websockets_app.checks import check_websockets_settings
from websockets_app.models import ApiGateway, WebSocketSession
from websockets_app.views import WebSocketView

handled: list[str] = []


class LimitedView(WebSocketView):
    """Every handler leaves a trace in ``handled``: a message over the limit must leave none."""

    USE_WS_TOKEN = False
    message_rate_limit = 3
    message_rate_limit_window_seconds = 60

    def default(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        handled.append("default")
        return {"ok": True}

    @handlers.handler
    def refuse(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        handled.append("refuse")
        return HttpResponse("no", status=409)

    @handlers.handler
    def broken(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        handled.append("broken")
        raise RuntimeError("the handler failed")


class SettingsLimitedView(WebSocketView):
    USE_WS_TOKEN = False


class UnlimitedView(WebSocketView):
    USE_WS_TOKEN = False
    message_rate_limit = None


urlpatterns = [
    path("ws/<slug:route>", LimitedView.as_view(debug=True)),
    path("settings/<slug:route>", SettingsLimitedView.as_view()),
    path("unlimited/<slug:route>", UnlimitedView.as_view()),
]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = [DOMAIN]
    handled.clear()


@pytest.fixture
def connected(db) -> WebSocketSession:
    api = ApiGateway.objects.create(api_name="chat", api_id=API_ID, stage_name=STAGE, region="eu-west-1")
    return WebSocketSession.objects.create(connection_id=CONNECTION_ID, api_gateway=api, channel_name="lobby")


def send(body: dict | None = None, connection_id: str = CONNECTION_ID) -> dict:
    return handler(message_event(body or {}, connection_id=connection_id), None)


def row_state(session: WebSocketSession) -> tuple:
    session.refresh_from_db()
    return (session.request_count, session.updated_on, session.message_window_start, session.message_window_count)


pytestmark = pytest.mark.usefixtures("keep_test_connection")


def test_a_message_over_the_limit_is_a_429_that_runs_and_writes_nothing(connected, django_assert_num_queries, caplog):
    assert [send()["statusCode"] for _ in range(3)] == [200, 200, 200]
    before = row_state(connected)
    with django_assert_num_queries(2):  # the session; the conditional UPDATE that matched no row
        result = send()
    assert (result["statusCode"], result["body"]) == (429, "Too many requests.")
    assert 1 <= int(result["multiValueHeaders"]["Retry-After"][0]) <= 60
    assert handled == ["default"] * 3
    assert row_state(connected) == before
    assert before[0] == 4  # the $connect and three messages
    assert "WebSocket request refused: message rate limit reached" in caplog.text


def test_an_accepted_message_still_costs_two_queries(connected, django_assert_num_queries):
    with django_assert_num_queries(2):
        assert send()["statusCode"] == 200
    connected.refresh_from_db()
    assert (connected.request_count, connected.message_window_count) == (2, 1)


def test_the_next_window_admits_messages_again(connected):
    for _ in range(3):
        send()
    assert send()["statusCode"] == 429
    WebSocketSession.objects.filter(pk=connected.pk).update(
        message_window_start=connected.created_on - timedelta(seconds=61)
    )
    assert send()["statusCode"] == 200
    connected.refresh_from_db()
    assert (connected.request_count, connected.message_window_count) == (5, 1)


def test_retry_after_counts_down_to_the_end_of_the_window(connected):
    for _ in range(3):
        send()
    connected.refresh_from_db()
    WebSocketSession.objects.filter(pk=connected.pk).update(
        message_window_start=connected.message_window_start - timedelta(seconds=50)
    )
    assert int(send()["multiValueHeaders"]["Retry-After"][0]) in (10, 11)


@pytest.mark.parametrize("refused", ["refuse", "broken"])
def test_a_message_its_handler_refuses_gives_its_place_back(connected, refused):
    before = row_state(connected)
    assert send({"action": refused})["statusCode"] in (409, 500)
    assert row_state(connected) == before  # nothing written, net
    for _ in range(5):
        send({"action": refused})
    assert [send()["statusCode"] for _ in range(4)] == [200, 200, 200, 429]


def test_a_message_refused_before_its_handler_is_not_counted(connected):
    for _ in range(5):
        assert send({"handler": "dispatch"})["statusCode"] == 400
    assert [send()["statusCode"] for _ in range(4)] == [200, 200, 200, 429]


def test_a_view_without_its_own_limit_takes_the_settings(connected, settings):
    settings.WEBSOCKETS = {"MESSAGE_RATE_LIMIT": 2, "MESSAGE_RATE_LIMIT_WINDOW_SECONDS": 30, "URL_PREFIX": "/settings/"}
    statuses = [send()["statusCode"] for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert int(send()["multiValueHeaders"]["Retry-After"][0]) <= 30


def test_a_view_can_lift_the_limit(connected, settings):
    settings.WEBSOCKETS = {"MESSAGE_RATE_LIMIT": 1, "URL_PREFIX": "/unlimited/"}
    assert {send()["statusCode"] for _ in range(5)} == {200}
    connected.refresh_from_db()
    assert connected.request_count == 6


def test_the_default_limit_is_on(connected, settings):
    settings.WEBSOCKETS = {"URL_PREFIX": "/settings/"}
    from websockets_app.conf import DEFAULTS

    limit = DEFAULTS["MESSAGE_RATE_LIMIT"]
    assert isinstance(limit, int)
    WebSocketSession.objects.filter(pk=connected.pk).update(
        message_window_start=connected.created_on, message_window_count=limit
    )
    assert send()["statusCode"] == 429


# -- configuration ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "window"),
    [(0, 60), (-1, 60), ("10", 60), (True, 60), (10, 0), (10, 86401), (10, None), (10, 1.5)],
)
def test_bad_settings_are_reported_by_the_checks(settings, value, window):
    settings.WEBSOCKETS = {"MESSAGE_RATE_LIMIT": value, "MESSAGE_RATE_LIMIT_WINDOW_SECONDS": window}
    ids = {message.id for message in check_websockets_settings()}
    assert ids & {"websockets_app.E019", "websockets_app.E020"}


def test_good_settings_pass_the_checks(settings):
    settings.WEBSOCKETS = {"MESSAGE_RATE_LIMIT": None, "MESSAGE_RATE_LIMIT_WINDOW_SECONDS": 1}
    assert check_websockets_settings() == []


@pytest.mark.parametrize(
    "attributes",
    [
        {"message_rate_limit": 0},
        {"message_rate_limit": "5"},
        {"message_rate_limit": True},
        {"message_rate_limit_window_seconds": 0},
        {"message_rate_limit_window_seconds": None},
    ],
)
def test_a_view_with_a_bad_limit_is_a_configuration_error(attributes):
    with pytest.raises(ImproperlyConfigured, match="message_rate_limit"):
        type("BadView", (WebSocketView,), {"__module__": __name__, **attributes})


# -- concurrency ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_messages_on_one_connection_are_admitted_exactly_up_to_the_limit(settings):
    settings.WEBSOCKETS = {
        "MESSAGE_RATE_LIMIT": 10,
        "MESSAGE_RATE_LIMIT_WINDOW_SECONDS": 60,
        "URL_PREFIX": "/settings/",
    }
    api = ApiGateway.objects.create(api_name="chat", api_id=API_ID, stage_name=STAGE, region="eu-west-1")
    session = WebSocketSession.objects.create(connection_id=CONNECTION_ID, api_gateway=api)
    gate = threading.Event()

    def one_message(_: int) -> int:
        gate.wait()
        try:
            return send()["statusCode"]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=40) as pool:
        futures = [pool.submit(one_message, n) for n in range(40)]
        gate.set()
        statuses = Counter(future.result() for future in futures)
    assert statuses == Counter({200: 10, 429: 30})
    session.refresh_from_db()
    assert (session.request_count, session.message_window_count) == (11, 10)


# -- database routers ---------------------------------------------------------------------------------------------

SESSIONS_DATABASE = "sessions"


class SessionsRouter:
    """Sends WebSocketSession reads and writes to their own database alias."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return SESSIONS_DATABASE if model is WebSocketSession else None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return SESSIONS_DATABASE if model is WebSocketSession else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True


@pytest.fixture(scope="module")
def sessions_database(django_db_setup, django_db_blocker):
    """A second alias, on the test database through a connection of its own (set before the test's database access
    is arranged, which must list it)."""
    django_settings.DATABASES[SESSIONS_DATABASE] = dict(connections["default"].settings_dict)
    yield SESSIONS_DATABASE
    with django_db_blocker.unblock():
        connections[SESSIONS_DATABASE].close()
    del connections[SESSIONS_DATABASE]
    del django_settings.DATABASES[SESSIONS_DATABASE]


@pytest.fixture
def routed_sessions(sessions_database, settings):
    settings.DATABASE_ROUTERS = [f"{__name__}.SessionsRouter"]
    return connections[sessions_database]


# Transactional: the two connections see each other's rows only once they are committed.
@pytest.mark.django_db(transaction=True, databases=["default", SESSIONS_DATABASE])
def test_the_message_queries_follow_the_database_router(routed_sessions):
    api = ApiGateway.objects.create(api_name="chat", api_id=API_ID, stage_name=STAGE, region="eu-west-1")
    session = WebSocketSession.objects.create(connection_id=CONNECTION_ID, api_gateway=api, channel_name="lobby")
    assert session._state.db == SESSIONS_DATABASE
    with CaptureQueriesContext(connections["default"]) as default, CaptureQueriesContext(routed_sessions) as routed:
        assert send()["statusCode"] == 200  # the session (read), the conditional UPDATE (write)
        assert send({"action": "refuse"})["statusCode"] == 409  # ... and the UPDATE that takes it back
    assert [query["sql"].split()[0] for query in routed.captured_queries] == ["SELECT", "UPDATE"] * 2 + ["UPDATE"]
    assert default.captured_queries == []
    assert row_state(session)[0] == 2  # the $connect and the accepted message
