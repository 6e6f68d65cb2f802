"""WebSocketContextMixin: the page's WebSocket URL, channel and token URL in the template context."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from django.template import engines
from django.views.generic import TemplateView

from websockets_app.mixins import WebSocketContextMixin

CLIENT_URL = "wss://abc123.execute-api.eu-west-1.amazonaws.com/production"
PAGE = engines["django"].from_string(
    '<p id="url">{{ websocket_url }}</p>{{ websocket_config|json_script:"websocket-config" }}'
)


class Page(WebSocketContextMixin, TemplateView):
    def get_template_names(self) -> Any:
        return PAGE  # a compiled template: TemplateResponse renders it as it is


class RoomPage(Page):
    def get_websocket_channel(self) -> str | None:
        return self.kwargs["room"]


@pytest.fixture(autouse=True)
def _client_url(settings):
    settings.WEBSOCKETS = {"CLIENT_URL": CLIENT_URL}


def context_of(view_class: type[Page], rf, **kwargs: Any) -> dict[str, Any]:
    view = view_class(**{key: kwargs.pop(key) for key in list(kwargs) if hasattr(view_class, key)})
    view.setup(rf.get("/page/"), **kwargs)
    return view.get_context_data()


def test_the_context_has_the_url_channel_token_url_and_a_config_for_the_client(rf):
    context = context_of(Page, rf, websocket_channel="lobby")
    assert context["websocket_url"] == CLIENT_URL
    assert context["websocket_channel"] == "lobby"
    assert context["websocket_token_url"] == "/api/ws-token/"
    assert context["websocket_config"] == {"url": CLIENT_URL, "channel": "lobby", "tokenUrl": "/api/ws-token/"}


def test_without_a_channel_the_connection_gets_the_gateways_default(rf):
    context = context_of(Page, rf)
    assert context["websocket_channel"] is None
    assert context["websocket_config"]["channel"] is None


def test_the_channel_may_come_from_the_request(rf):
    assert context_of(RoomPage, rf, room="room-7")["websocket_channel"] == "room-7"


@pytest.mark.parametrize("room", ["", "has space", "x" * 129, "<script>", "a/b"])
def test_a_bad_channel_is_a_404(rf, room):
    with pytest.raises(Http404):
        context_of(RoomPage, rf, room=room)


def test_the_channel_follows_the_configured_pattern(rf, settings):
    settings.WEBSOCKETS = {"CLIENT_URL": CLIENT_URL, "CHANNEL_NAME_PATTERN": r"room-[0-9]+"}
    assert context_of(RoomPage, rf, room="room-7")["websocket_channel"] == "room-7"
    with pytest.raises(Http404):
        context_of(RoomPage, rf, room="lobby")


def test_a_bad_channel_from_the_class_attribute_is_a_404_too(rf):
    with pytest.raises(Http404):
        context_of(Page, rf, websocket_channel="no spaces allowed")


def test_without_a_client_url_the_page_is_a_clear_configuration_error(rf, settings):
    settings.WEBSOCKETS = {}
    with pytest.raises(ImproperlyConfigured, match=r"WEBSOCKETS\['CLIENT_URL'\].*WEBSOCKETS_CLIENT_URL"):
        context_of(Page, rf)


def test_a_token_url_name_that_names_nothing_is_a_clear_configuration_error(rf):
    with pytest.raises(ImproperlyConfigured, match="'nowhere', which names no URL"):
        context_of(Page, rf, websocket_token_url_name="nowhere")


def test_getters_can_be_overridden(rf):
    class Custom(Page):
        def get_websocket_url(self) -> str:
            return "ws://127.0.0.1:8001"

        def get_websocket_token_url(self) -> str:
            return "/other/token/"

    assert context_of(Custom, rf)["websocket_config"] == {
        "url": "ws://127.0.0.1:8001",
        "channel": None,
        "tokenUrl": "/other/token/",
    }


def test_the_config_renders_as_escaped_json_for_json_script(rf, settings):
    settings.WEBSOCKETS = {"CLIENT_URL": "wss://ws.example.com/?next=</script>"}
    response = Page.as_view(websocket_channel="lobby")(rf.get("/page/"))
    html = response.render().content.decode()
    [script] = re.findall(r'<script id="websocket-config" type="application/json">(.*?)</script>', html)
    assert "</script>" not in script  # json_script escapes <, > and &
    assert json.loads(script) == {
        "url": "wss://ws.example.com/?next=</script>",
        "channel": "lobby",
        "tokenUrl": "/api/ws-token/",
    }
