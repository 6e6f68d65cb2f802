"""``WebSocketContextMixin``: what a page needs to open the site's WebSocket, in its template context.

    class RoomView(LoginRequiredMixin, WebSocketContextMixin, TemplateView):
        template_name = "room.html"

        def get_websocket_channel(self) -> str:
            return self.kwargs["room"]

and in the template::

    {{ websocket_config|json_script:"websocket-config" }}
    <script type="module">
      import { WebSocketClient } from "{% static 'websockets_app/ws-client.js' %}";
      const client = new WebSocketClient(JSON.parse(document.getElementById("websocket-config").textContent));
    </script>

The URL comes from ``WEBSOCKETS["CLIENT_URL"]``, so one setting decides where every page connects; the browser gets
a fresh single-use token from the token endpoint before each connect (``ws-client.js`` does that).

``AddWebSocketRouteToContextMixin`` and ``AppChannelWebSocketMixin`` are the original package's mixins
(django-aws-api-gateway-websockets), kept for ported templates that read ``api_gateway_route`` and ``channel_name``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.http import Http404
from django.urls import NoReverseMatch, reverse

from websockets_app.conf import ws_settings
from websockets_app.models import ApiGatewayAdditionalRoute
from websockets_app.validators import validate_channel_name

if TYPE_CHECKING:
    from django.views.generic.base import ContextMixin

    # What the mixins are mixed into: a view with get_context_data (only the type checker sees it).
    _ContextView = ContextMixin
else:
    _ContextView = object


class WebSocketContextMixin(_ContextView):
    """Adds ``websocket_url``, ``websocket_channel``, ``websocket_token_url`` and ``websocket_config`` to the context.

    For any view with ``get_context_data`` (TemplateView, DetailView, ...). A channel name that is not valid is a
    404: the page is for a channel that cannot exist.
    """

    # The channel the page's connection joins at $connect; None: the gateway's default channel.
    websocket_channel: str | None = None
    # URL name of websockets_app.views.WebSocketTokenView in the project's URLconf.
    websocket_token_url_name: str = "websocket-token"  # noqa: S105 (a URL name, not a secret)

    def get_websocket_url(self) -> str:
        url = ws_settings.CLIENT_URL
        if not url:
            raise ImproperlyConfigured(
                f"{type(self).__name__} needs WEBSOCKETS['CLIENT_URL'], the ws:// or wss:// URL browsers open the "
                "socket on (environment variable WEBSOCKETS_CLIENT_URL in this project)."
            )
        return url

    def get_websocket_channel(self) -> str | None:
        return self.websocket_channel

    def get_websocket_token_url(self) -> str:
        try:
            return reverse(self.websocket_token_url_name)
        except NoReverseMatch as exc:
            raise ImproperlyConfigured(
                f"{type(self).__name__}.websocket_token_url_name is {self.websocket_token_url_name!r}, which names "
                "no URL; route WebSocketTokenView under that name or change the attribute."
            ) from exc

    def get_websocket_context(self) -> dict[str, Any]:
        """The four context entries; the channel is validated before anything else is looked up."""
        channel = self.get_websocket_channel()
        if channel is not None:
            try:
                validate_channel_name(channel)
            except ValidationError as exc:
                raise Http404("No such channel.") from exc
        url = self.get_websocket_url()
        token_url = self.get_websocket_token_url()
        return {
            "websocket_url": url,
            "websocket_channel": channel,
            "websocket_token_url": token_url,
            # The option names of ws-client.js's WebSocketClient, so the parsed config can be passed to it as is.
            "websocket_config": {"url": url, "channel": channel, "tokenUrl": token_url},
        }

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(self.get_websocket_context())
        return context


# -- the template mixins of django-aws-api-gateway-websockets, for ported pages ----------------------------------------


class AddWebSocketRouteToContextMixin(_ContextView):
    """Adds ``api_gateway_route`` and ``channel_name`` to the context, as the original package's mixin does.

    ``api_gateway_route`` is the ``ApiGatewayAdditionalRoute`` whose route key is ``websocket_route_key`` (its
    ``api_gateway`` loaded with it, in one query), or None. A channel name that is not valid is a 404.
    """

    # The additional route the page's messages use; override it unless a route keyed "default" exists.
    websocket_route_key: str = "default"
    channel_name: str = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        if self.channel_name:
            try:
                validate_channel_name(self.channel_name)
            except ValidationError as exc:
                raise Http404("No such channel.") from exc
        context["api_gateway_route"] = (
            ApiGatewayAdditionalRoute.objects.filter(route_key=self.websocket_route_key)
            .select_related("api_gateway")
            .first()
        )
        context["channel_name"] = self.channel_name
        return context


class AppChannelWebSocketMixin(AddWebSocketRouteToContextMixin):
    """The channel and the route key are the name of the package that holds the view's module (``chat`` for
    ``chat/views.py``); ``app_channel_override``, when set, replaces the channel only."""

    app_channel_override: str | None = None

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        module = sys.modules[type(self).__module__]
        app_name = module.__package__ or module.__name__.rpartition(".")[0]
        self.websocket_route_key = app_name
        self.channel_name = self.app_channel_override or app_name
        return super().get_context_data(**kwargs)
