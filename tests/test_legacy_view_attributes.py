"""View attributes of django-aws-api-gateway-websockets that a ported view may set, with the original's meaning:
aws_api_gateway_id pins a view to one API, RATE_LIMIT_* set the view's own connection limits, CHANNEL_NAME_PATTERN /
MAX_CHANNEL_NAME_LENGTH the view's own channel rule."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.urls import path

from tests.events import API_ID, CONNECTION_ID, DOMAIN, STAGE, connect_event, disconnect_event, message_event
from websockets_app import handlers
from websockets_app.models import ApiGateway, ConnectionRateLimit, WebSocketSession
from websockets_app.views import WebSocketView

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]


class PinnedView(WebSocketView):
    USE_WS_TOKEN = False
    aws_api_gateway_id = API_ID

    def default(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return {"handled": True}


class PinnedElsewhereView(PinnedView):
    aws_api_gateway_id = "zz9plural"


class LimitedView(WebSocketView):
    USE_WS_TOKEN = False
    RATE_LIMIT_MAX_ATTEMPTS = 2
    RATE_LIMIT_WINDOW_MINUTES = 5


class BurstLimitedView(WebSocketView):
    USE_WS_TOKEN = False
    RATE_LIMIT_MAX_ATTEMPTS = 7


class UnlimitedView(WebSocketView):
    USE_WS_TOKEN = False
    RATE_LIMIT_ENABLED = False


class ChannelRuleView(WebSocketView):
    USE_WS_TOKEN = False
    CHANNEL_NAME_PATTERN = r"^[a-z]+$"
    MAX_CHANNEL_NAME_LENGTH = 5

    @handlers.handler
    def join(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        self.change_channel(self.body.get("room"))
        return {"channel": self.websocket_session.channel_name}


urlpatterns = [
    path("pinned/<slug:route>", PinnedView.as_view()),
    path("elsewhere/<slug:route>", PinnedElsewhereView.as_view()),
    path("limited/<slug:route>", LimitedView.as_view()),
    path("burst/<slug:route>", BurstLimitedView.as_view()),
    path("unlimited/<slug:route>", UnlimitedView.as_view()),
    path("channels/<slug:route>", ChannelRuleView.as_view()),
]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = [DOMAIN]


def serve(settings, prefix: str, **websockets: Any) -> None:
    settings.WEBSOCKETS = {"URL_PREFIX": f"/{prefix}/", **websockets}


@pytest.fixture
def api(db) -> ApiGateway:
    return ApiGateway.objects.create(api_name="chat", api_id=API_ID, stage_name=STAGE, region="eu-west-1")


def everything() -> tuple:
    return (
        list(ApiGateway.objects.values()),
        list(WebSocketSession.objects.values()),
        list(ConnectionRateLimit.objects.values()),
    )


# -- aws_api_gateway_id ----------------------------------------------------------------------------------------------


def test_a_view_pinned_to_another_api_refuses_every_event_and_writes_nothing(settings, api, websocket_handler):
    session = WebSocketSession.objects.create(connection_id=CONNECTION_ID, api_gateway=api)
    serve(settings, "elsewhere")
    before = everything()
    for event in (connect_event("new="), message_event({"action": "default"}), disconnect_event()):
        result = websocket_handler(event, None)
        assert (result["statusCode"], result["body"]) == (403, "Forbidden.")
    assert everything() == before
    session.refresh_from_db()
    assert session.connected


def test_a_pinned_view_registers_no_unknown_api(settings, db, websocket_handler):
    serve(settings, "elsewhere")
    assert websocket_handler(connect_event(), None)["statusCode"] == 403
    assert not ApiGateway.objects.exists()
    assert not ConnectionRateLimit.objects.exists()


def test_a_view_pinned_to_the_events_api_serves_it(settings, api, websocket_handler):
    serve(settings, "pinned")
    assert websocket_handler(connect_event(), None)["statusCode"] == 200
    assert websocket_handler(message_event({"action": "default"}), None)["statusCode"] == 200
    assert websocket_handler(disconnect_event(), None)["statusCode"] == 200


# -- RATE_LIMIT_* ----------------------------------------------------------------------------------------------------


def test_a_views_own_connection_limit_and_window_apply(settings, api, websocket_handler):
    serve(settings, "limited", CONNECT_RATE_LIMIT_IP_ATTEMPTS=100, CONNECT_RATE_LIMIT_WINDOW_SECONDS=60)
    results = [websocket_handler(connect_event(f"c{n}="), None) for n in range(4)]
    assert [result["statusCode"] for result in results] == [200, 200, 429, 429]
    assert results[2]["multiValueHeaders"]["Retry-After"] == ["300"]
    assert WebSocketSession.objects.count() == 2
    assert ConnectionRateLimit.objects.totals() == {"successful": 2, "refused": 2}


def test_the_settings_limit_does_not_bind_a_view_with_its_own(settings, api, websocket_handler):
    serve(settings, "limited", CONNECT_RATE_LIMIT_IP_ATTEMPTS=1)
    assert [websocket_handler(connect_event(f"c{n}="), None)["statusCode"] for n in range(2)] == [200, 200]


def test_a_view_can_switch_the_connection_limit_off(settings, api, websocket_handler):
    serve(settings, "unlimited", CONNECT_RATE_LIMIT_IP_ATTEMPTS=1, CONNECT_RATE_LIMIT_USER_ATTEMPTS=1)
    assert [websocket_handler(connect_event(f"c{n}="), None)["statusCode"] for n in range(3)] == [200, 200, 200]
    assert ConnectionRateLimit.objects.totals() == {"successful": 3, "refused": 0}  # still counted


@pytest.mark.django_db(transaction=True)
def test_a_burst_against_a_views_own_limit_admits_exactly_that_limit(settings, websocket_handler):
    from tests.test_security_concurrency import connect_concurrently

    serve(settings, "burst", CONNECT_RATE_LIMIT_IP_ATTEMPTS=100)
    statuses = connect_concurrently(websocket_handler, [connect_event(f"burst-{n}=") for n in range(40)])
    assert statuses == Counter({200: 7, 429: 33})
    assert WebSocketSession.objects.count() == 7
    assert ConnectionRateLimit.objects.totals() == {"successful": 7, "refused": 33}


# -- CHANNEL_NAME_PATTERN / MAX_CHANNEL_NAME_LENGTH ------------------------------------------------------------------


@pytest.mark.parametrize(("channel", "status"), [("abc", 200), ("abcdef", 400), ("ab-c", 400), ("Abc", 400)])
def test_a_views_channel_rule_decides_on_connect(settings, api, channel, status, websocket_handler):
    serve(settings, "channels")
    assert websocket_handler(connect_event(query={"channel": channel}), None)["statusCode"] == status
    assert WebSocketSession.objects.filter(channel_name=channel).exists() == (status == 200)


def test_a_views_channel_rule_decides_on_change_channel(settings, api, websocket_handler):
    serve(settings, "channels")
    session = WebSocketSession.objects.create(connection_id=CONNECTION_ID, api_gateway=api, channel_name="lobby")
    assert websocket_handler(message_event({"action": "join", "room": "room-2"}), None)["statusCode"] == 400
    session.refresh_from_db()
    assert session.channel_name == "lobby"
    assert websocket_handler(message_event({"action": "join", "room": "hall"}), None)["statusCode"] == 200
    session.refresh_from_db()
    assert session.channel_name == "hall"


@pytest.mark.parametrize(
    "attributes",
    [
        {"aws_api_gateway_id": "Not An Id"},
        {"aws_api_gateway_id": ""},
        {"RATE_LIMIT_ENABLED": "yes"},
        {"RATE_LIMIT_MAX_ATTEMPTS": -1},
        {"RATE_LIMIT_MAX_ATTEMPTS": True},
        {"RATE_LIMIT_WINDOW_MINUTES": 1441},
        {"MAX_CHANNEL_NAME_LENGTH": 129},
        {"MAX_CHANNEL_NAME_LENGTH": 0},
        {"CHANNEL_NAME_PATTERN": "[unclosed"},
    ],
)
def test_a_bad_attribute_is_a_configuration_error(attributes):
    with pytest.raises(ImproperlyConfigured):
        type("BadView", (WebSocketView,), attributes)
