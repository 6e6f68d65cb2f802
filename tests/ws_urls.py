"""A URLconf of test views: WebSocket views with the options the tests exercise, plus HTTP echo endpoints."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.mixins import AccessMixin, LoginRequiredMixin, PermissionRequiredMixin, UserPassesTestMixin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from websockets_app.messaging import send_to_channel
from websockets_app.permissions import handler_permissions
from websockets_app.views import WebSocketView, handler


def _describe(view: WebSocketView, request: HttpRequest, handler: str) -> dict[str, Any]:
    session = view.websocket_session
    return {
        "handler": handler,
        "user": request.user.get_username() if request.user.is_authenticated else None,
        "body": view.body,
        "channel": session.channel_name if session else None,
    }


class EchoView(WebSocketView):
    USE_WS_TOKEN = False  # most tests are about something else; TokenEchoView has tokens on

    def default(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return _describe(self, request, "default")

    @handler
    def echo(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return _describe(self, request, "echo")

    @handler
    def chat(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return _describe(self, request, "chat")

    @handler
    def join(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        self.change_channel(self.body.get("room", ""))
        return _describe(self, request, "join")

    @handler
    def reply(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.websocket_session.send_message({"reply": self.body.get("text")})

    @handler
    def shout(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        result = send_to_channel(self.websocket_session.channel_name, {"shout": self.body.get("text")})
        return {"sent": sorted(result.sent)}

    @handler
    def refuse(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse("no", status=409)

    @handler
    def broken(self, request: HttpRequest, *args: Any, **kwargs: Any) -> int:
        return 42


class TokenEchoView(EchoView):
    USE_WS_TOKEN = True


class RestrictedView(WebSocketView):
    USE_WS_TOKEN = False
    ALLOWED_HANDLERS = ["only"]

    def only(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return {"handler": "only"}

    def hidden(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return {"handler": "hidden"}


class PermissionView(WebSocketView):
    USE_WS_TOKEN = False
    permissions_required = ["websockets_app.view_websocketsession", "websockets_app.change_websocketsession"]


class AllPermissionsView(WebSocketView):
    USE_WS_TOKEN = False
    all_permissions_required = ["websockets_app.view_websocketsession", "websockets_app.change_websocketsession"]


class GuardedHandlersView(WebSocketView):
    """Open to every connection; two handlers need permissions of their own (@handler above and below)."""

    USE_WS_TOKEN = False

    @handler
    @handler_permissions(any_of=["websockets_app.view_websocketsession", "websockets_app.change_websocketsession"])
    def peek(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return {"handler": "peek"}

    @handler_permissions(all_of=["websockets_app.view_websocketsession", "websockets_app.delete_websocketsession"])
    @handler
    def purge(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return {"handler": "purge"}

    @handler
    def hello(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return {"handler": "hello"}


class RefusingConnectView(WebSocketView):
    USE_WS_TOKEN = False

    def connect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse | None:
        if request.GET.get("ticket") != "ok":
            return HttpResponse("no", status=401)
        return super().connect(request, *args, **kwargs)


def _auth_mixin_view(mixin: type) -> type[WebSocketView]:
    """A view with one of Django's auth mixins and one declared handler, ``greet``.

    The mixin comes after WebSocketView so that WebSocketView.dispatch still receives the event: what is tested is
    only whether the mixin's public methods can be selected by a message.
    """

    def default(self: WebSocketView, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return {"handler": "default"}

    def greet(self: WebSocketView, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return {"handler": "greet"}

    attributes = {"USE_WS_TOKEN": False, "__module__": __name__, "default": default, "greet": handler(greet)}
    return type(f"{mixin.__name__}View", (WebSocketView, mixin), attributes)


AUTH_MIXINS: dict[str, type] = {
    "access": AccessMixin,
    "login": LoginRequiredMixin,
    "permission": PermissionRequiredMixin,
    "passes": UserPassesTestMixin,
}
AUTH_MIXIN_VIEWS: dict[str, type[WebSocketView]] = {
    name: _auth_mixin_view(mixin) for name, mixin in AUTH_MIXINS.items()
}


@csrf_exempt
def echo_http(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(
        {
            "method": request.method,
            "query": {key: request.GET.getlist(key) for key in request.GET},
            "cookies": dict(request.COOKIES),
            "body": request.body.decode(),
        }
    )
    response.set_cookie("first", "1")
    response.set_cookie("second", "2")
    return response


def binary_http(request: HttpRequest) -> HttpResponse:
    return HttpResponse(bytes(range(256)), content_type="application/octet-stream")


def json_http(request: HttpRequest) -> HttpResponse:
    return HttpResponse(json.dumps({"ok": True}), content_type="application/json")


urlpatterns = [
    path("ws/<slug:route>", EchoView.as_view(debug=True), name="websocket"),
    path("secure/<slug:route>", TokenEchoView.as_view(debug=True)),
    path("restricted/<slug:route>", RestrictedView.as_view()),
    path("perm/<slug:route>", PermissionView.as_view()),
    path("allperm/<slug:route>", AllPermissionsView.as_view()),
    path("ticket/<slug:route>", RefusingConnectView.as_view()),
    path("guarded/<slug:route>", GuardedHandlersView.as_view()),
    *(path(f"mixin-{name}/<slug:route>", view.as_view()) for name, view in AUTH_MIXIN_VIEWS.items()),
    path("echo/", echo_http),
    path("binary/", binary_http),
    path("json/", json_http),
    path("", include("project.urls")),
]
