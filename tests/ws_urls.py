"""A URLconf of test views: WebSocket views with the options the tests exercise, plus HTTP echo endpoints."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from websockets_app.messaging import send_to_channel
from websockets_app.permissions import handler_permissions
from websockets_app.views import WebSocketView


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

    def echo(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return _describe(self, request, "echo")

    def chat(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return _describe(self, request, "chat")

    def join(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        self.change_channel(self.body.get("room", ""))
        return _describe(self, request, "join")

    def reply(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.websocket_session.send_message({"reply": self.body.get("text")})

    def shout(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        result = send_to_channel(self.websocket_session.channel_name, {"shout": self.body.get("text")})
        return {"sent": sorted(result.sent)}

    def refuse(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse("no", status=409)

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
    """Open to every connection; two handlers need permissions of their own."""

    USE_WS_TOKEN = False

    @handler_permissions(any_of=["websockets_app.view_websocketsession", "websockets_app.change_websocketsession"])
    def peek(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return {"handler": "peek"}

    @handler_permissions(all_of=["websockets_app.view_websocketsession", "websockets_app.delete_websocketsession"])
    def purge(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return {"handler": "purge"}

    def hello(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict:
        return {"handler": "hello"}


class RefusingConnectView(WebSocketView):
    USE_WS_TOKEN = False

    def connect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse | None:
        if request.GET.get("ticket") != "ok":
            return HttpResponse("no", status=401)
        return super().connect(request, *args, **kwargs)


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
    path("echo/", echo_http),
    path("binary/", binary_http),
    path("json/", json_http),
    path("", include("project.urls")),
]
