"""The original package's template mixins, next to WebSocketContextMixin: AddWebSocketRouteToContextMixin puts the
route row and the channel in the context, AppChannelWebSocketMixin derives both from the view's app."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import Http404
from django.views.generic import TemplateView

from websockets_app.mixins import AddWebSocketRouteToContextMixin, AppChannelWebSocketMixin
from websockets_app.models import ApiGateway, ApiGatewayAdditionalRoute

pytestmark = pytest.mark.django_db


class RoutePage(AddWebSocketRouteToContextMixin, TemplateView):
    template_name = "unused.html"
    websocket_route_key = "chat"
    channel_name = "lobby"


class DefaultRoutePage(AddWebSocketRouteToContextMixin, TemplateView):
    template_name = "unused.html"


class AppPage(AppChannelWebSocketMixin, TemplateView):
    template_name = "unused.html"


class OverriddenAppPage(AppPage):
    app_channel_override = "announcements"


def context_of(view_class: type[TemplateView], rf, **attributes: Any) -> dict[str, Any]:
    view = view_class(**attributes)
    view.setup(rf.get("/page/"))
    return view.get_context_data()


@pytest.fixture
def routes(db) -> dict[str, ApiGatewayAdditionalRoute]:
    gateway = ApiGateway.objects.create(api_name="site", api_id="abc123", target_base_endpoint="https://x.test/ws/")
    return {
        key: ApiGatewayAdditionalRoute.objects.create(api_gateway=gateway, name=key, route_key=key)
        for key in ("chat", "default", "tests")
    }


def test_the_route_row_with_its_gateway_and_the_channel_are_in_the_context(rf, routes, django_assert_num_queries):
    with django_assert_num_queries(1):
        context = context_of(RoutePage, rf)
        assert context["api_gateway_route"].api_gateway.api_id == "abc123"  # loaded with the route
    assert context["api_gateway_route"] == routes["chat"]
    assert context["channel_name"] == "lobby"


def test_the_default_route_key_is_default_and_the_channel_empty(rf, routes):
    context = context_of(DefaultRoutePage, rf)
    assert (context["api_gateway_route"], context["channel_name"]) == (routes["default"], "")


def test_no_route_row_is_none_in_the_context(rf, db):
    assert context_of(RoutePage, rf)["api_gateway_route"] is None


def test_a_channel_that_cannot_exist_is_a_404(rf, routes):
    with pytest.raises(Http404):
        context_of(RoutePage, rf, channel_name="no spaces allowed")


def test_the_apps_name_is_the_channel_and_the_route_key(rf, routes):
    context = context_of(AppPage, rf)
    assert (context["channel_name"], context["api_gateway_route"]) == ("tests", routes["tests"])


def test_app_channel_override_changes_only_the_channel(rf, routes):
    context = context_of(OverriddenAppPage, rf)
    assert (context["channel_name"], context["api_gateway_route"]) == ("announcements", routes["tests"])
