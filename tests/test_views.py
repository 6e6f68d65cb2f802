"""WebSocketView driven through the Lambda entry point with realistic API Gateway events."""

from __future__ import annotations

import base64
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from tests.events import API_ID, CONNECTION_ID, DOMAIN, STAGE, connect_event, disconnect_event, message_event
from tests.ws_urls import AUTH_MIXINS
from websockets_app import handlers
from websockets_app.models import ApiGateway, WebSocketSession
from websockets_app.views import WebSocketView

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection", "ws_test_views")]


@pytest.fixture
def api(db) -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="chat", api_id=API_ID, stage_name=STAGE, region="eu-west-1", default_channel_name="lobby"
    )


@pytest.fixture
def connected(api) -> WebSocketSession:
    return WebSocketSession.objects.create(connection_id=CONNECTION_ID, api_gateway=api, channel_name="lobby")


def session_cookie(client, user) -> str:
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def body_of(result: dict) -> dict:
    return json.loads(result["body"])


# -- $connect ------------------------------------------------------------------------------------------------------


def test_connect_records_the_session_with_the_requested_channel(api, websocket_handler):
    result = websocket_handler(connect_event(query={"channel": "room-7"}), None)
    assert result["statusCode"] == 200
    session = WebSocketSession.objects.get()
    assert (session.connection_id, session.channel_name, session.api_gateway, session.user) == (
        CONNECTION_ID,
        "room-7",
        api,
        None,
    )
    assert session.connected
    assert session.request_count == 1


def test_connect_without_a_channel_uses_the_gateways_default_channel(api, websocket_handler):
    websocket_handler(connect_event(), None)
    assert WebSocketSession.objects.get().channel_name == "lobby"


# Session, user, the rate limit's count and its attempt row (in a transaction: a savepoint pair inside the test's
# own), the gateway, the session row; PostgreSQL adds the rate limit's advisory lock.
CONNECT_QUERIES = 8 + (connection.vendor == "postgresql")


def test_connect_with_a_session_cookie_records_the_user_in_a_fixed_number_of_queries(
    api, client, django_user_model, django_assert_num_queries, websocket_handler
):
    user = django_user_model.objects.create_user("ada", password="pw")
    cookie = session_cookie(client, user)
    with django_assert_num_queries(CONNECT_QUERIES):
        result = websocket_handler(connect_event(cookie=cookie), None)
    assert result["statusCode"] == 200
    assert WebSocketSession.objects.get().user == user


def test_connect_from_an_unknown_api_registers_the_gateway(db, websocket_handler):
    result = websocket_handler(connect_event(), None)
    assert result["statusCode"] == 200
    gateway = ApiGateway.objects.get()
    assert (gateway.api_id, gateway.stage_name, gateway.region, gateway.self_registered) == (
        API_ID,
        STAGE,
        "eu-west-1",
        True,
    )
    assert gateway.api_endpoint == f"wss://{DOMAIN}/{STAGE}"
    assert WebSocketSession.objects.get().api_gateway == gateway


def test_a_repeated_connect_changes_nothing(api, client, django_user_model, websocket_handler):
    websocket_handler(connect_event(query={"channel": "first"}), None)
    before = WebSocketSession.objects.values().get()
    user = django_user_model.objects.create_user("eve", password="pw")
    result = websocket_handler(connect_event(query={"channel": "second"}, cookie=session_cookie(client, user)), None)
    assert result["statusCode"] == 200
    assert WebSocketSession.objects.values().get() == before


def test_a_connect_with_a_bad_channel_is_refused_and_writes_nothing(api, websocket_handler):
    result = websocket_handler(connect_event(query={"channel": "x" * 129}), None)
    assert result["statusCode"] == 400
    assert result["body"] == "Bad request."
    assert not WebSocketSession.objects.exists()


def test_a_bad_channel_from_an_unknown_api_registers_nothing(db, websocket_handler):
    assert websocket_handler(connect_event(query={"channel": "bad\x00"}), None)["statusCode"] == 400
    assert not ApiGateway.objects.exists()


def test_a_view_can_refuse_a_connect_before_it_is_recorded(api, settings, websocket_handler):
    settings.WEBSOCKETS = {"URL_PREFIX": "/ticket/"}
    assert websocket_handler(connect_event(), None)["statusCode"] == 401
    assert not WebSocketSession.objects.exists()
    assert websocket_handler(connect_event(query={"ticket": "ok"}), None)["statusCode"] == 200
    assert WebSocketSession.objects.count() == 1


# -- MESSAGE -------------------------------------------------------------------------------------------------------


def test_a_message_runs_default_with_the_body_and_takes_two_queries(
    connected, django_assert_num_queries, websocket_handler
):
    with django_assert_num_queries(2):  # the session (with user and gateway), the request count
        result = websocket_handler(message_event({"text": "hi"}), None)
    assert result["statusCode"] == 200
    assert body_of(result) == {"handler": "default", "user": None, "body": {"text": "hi"}, "channel": "lobby"}
    connected.refresh_from_db()
    assert connected.request_count == 2


def test_request_user_on_a_message_is_the_user_recorded_at_connect(api, client, django_user_model, websocket_handler):
    user = django_user_model.objects.create_user("grace", password="pw")
    websocket_handler(connect_event(cookie=session_cookie(client, user)), None)
    result = websocket_handler(message_event({"action": "echo"}), None)
    assert body_of(result)["user"] == "grace"


def test_the_action_selects_a_handler(connected, websocket_handler):
    assert body_of(websocket_handler(message_event({"action": "echo"}), None))["handler"] == "echo"


def test_the_handler_key_wins_over_the_action(connected, websocket_handler):
    result = websocket_handler(message_event({"action": "chat", "handler": "echo"}), None)
    assert body_of(result)["handler"] == "echo"


def test_a_custom_route_key_selects_its_method(connected, websocket_handler):
    result = websocket_handler(message_event({"text": "x"}, route_key="chat"), None)
    assert body_of(result)["handler"] == "chat"


def test_an_unknown_action_falls_back_to_default(connected, websocket_handler):
    assert body_of(websocket_handler(message_event({"action": "nope"}), None))["handler"] == "default"


@pytest.mark.parametrize(
    "handler_name", ["nope", "dispatch", "setup", "connect", "disconnect", "check_permissions", "_debug", "__init__", 7]
)
def test_an_explicit_unknown_or_framework_handler_is_a_400_that_writes_nothing(
    connected, handler_name, websocket_handler
):
    result = websocket_handler(message_event({"handler": handler_name}), None)
    assert result["statusCode"] == 400
    assert result["body"] == "Bad request."
    connected.refresh_from_db()
    assert connected.request_count == 1


@pytest.mark.parametrize("action", ["dispatch", "setup", "connect", "as_view", "http_method_not_allowed"])
def test_an_action_naming_a_framework_method_never_runs_it(connected, action, websocket_handler):
    assert body_of(websocket_handler(message_event({"action": action}), None))["handler"] == "default"


@pytest.mark.parametrize(
    "raw", ["not json", "[1, 2]", '"text"', "42", "null", "{", "\udcff"], ids=lambda raw: raw[:8] or "empty"
)
def test_a_body_that_is_not_a_json_object_is_a_400_that_writes_nothing(connected, raw, websocket_handler):
    result = websocket_handler(message_event(raw=raw), None)
    assert result["statusCode"] == 400
    assert result["body"] == "Bad request."
    connected.refresh_from_db()
    assert connected.request_count == 1


def test_an_empty_body_is_an_empty_object(connected, websocket_handler):
    assert body_of(websocket_handler(message_event(raw=""), None))["body"] == {}


def test_a_binary_frame_that_is_json_is_accepted(connected, websocket_handler):
    event = message_event(raw=base64.b64encode(b'{"action": "echo"}').decode())
    event["isBase64Encoded"] = True
    assert body_of(websocket_handler(event, None))["handler"] == "echo"


def test_a_message_from_an_unknown_connection_is_refused(api, websocket_handler):
    result = websocket_handler(message_event({"action": "echo"}, connection_id="unknown="), None)
    assert result["statusCode"] == 403
    assert result["body"] == "Forbidden."
    assert not WebSocketSession.objects.exists()


def test_a_message_on_a_closed_connection_is_refused(connected, websocket_handler):
    WebSocketSession.objects.mark_disconnected()
    assert websocket_handler(message_event({}), None)["statusCode"] == 403


def test_a_message_with_a_bad_connection_id_is_refused(connected, websocket_handler):
    assert websocket_handler(message_event({}, connection_id="bad id; drop"), None)["statusCode"] == 403


def test_change_channel_moves_the_connection(connected, websocket_handler):
    result = websocket_handler(message_event({"action": "join", "room": "kitchen"}), None)
    assert body_of(result)["channel"] == "kitchen"
    connected.refresh_from_db()
    assert connected.channel_name == "kitchen"


def test_change_channel_refuses_a_bad_name_and_keeps_the_old_channel(connected, websocket_handler):
    result = websocket_handler(message_event({"action": "join", "room": "bad\nname"}), None)
    assert result["statusCode"] == 400
    connected.refresh_from_db()
    assert connected.channel_name == "lobby"


def test_a_handler_may_return_its_own_response(connected, websocket_handler):
    result = websocket_handler(message_event({"action": "refuse"}), None)
    assert (result["statusCode"], result["body"]) == (409, "no")


def test_a_handler_returning_something_else_is_a_server_error(connected, websocket_handler):
    assert websocket_handler(message_event({"action": "broken"}), None)["statusCode"] == 500


def test_a_handler_replies_to_its_own_connection_through_the_management_api(
    connected, management_stub, websocket_handler
):
    assert websocket_handler(message_event({"action": "reply", "text": "hi"}), None)["statusCode"] == 200
    assert dict(management_stub.stub.delivered) == {CONNECTION_ID: [b'{"reply":"hi"}']}


def test_a_handler_can_send_to_its_whole_channel(connected, management_stub, websocket_handler):
    WebSocketSession.objects.create(connection_id="peer=", api_gateway=connected.api_gateway, channel_name="lobby")
    WebSocketSession.objects.create(connection_id="elsewhere=", api_gateway=connected.api_gateway, channel_name="x")
    result = websocket_handler(message_event({"action": "shout", "text": "all"}), None)
    assert body_of(result) == {"sent": [CONNECTION_ID, "peer="]}
    assert dict(management_stub.stub.delivered) == {
        CONNECTION_ID: [b'{"shout":"all"}'],
        "peer=": [b'{"shout":"all"}'],
    }


# -- handler allow-lists -------------------------------------------------------------------------------------------


def test_allowed_handlers_limit_what_a_message_can_select(connected, settings, websocket_handler):
    settings.WEBSOCKETS = {"URL_PREFIX": "/restricted/"}
    assert body_of(websocket_handler(message_event({"action": "only"}), None)) == {"handler": "only"}
    assert websocket_handler(message_event({"handler": "hidden"}), None)["statusCode"] == 400
    assert (
        websocket_handler(message_event({"action": "hidden"}), None)["statusCode"] == 200
    )  # default, which does nothing


def _public_methods(cls: type) -> list[str]:
    return sorted(name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name)))


@pytest.mark.parametrize(
    ("prefix", "method"),
    [
        (prefix, method)
        for prefix, mixin in AUTH_MIXINS.items()
        for method in _public_methods(mixin)
        if method != "dispatch"  # WebSocketView's own, checked with the framework names above
    ],
)
def test_no_method_of_an_auth_mixin_can_be_selected_by_a_message(
    connected, settings, prefix, method, websocket_handler
):
    settings.WEBSOCKETS = {"URL_PREFIX": f"/mixin-{prefix}/"}
    result = websocket_handler(message_event({"handler": method}), None)
    assert result["statusCode"] == 400
    connected.refresh_from_db()
    assert connected.request_count == 1
    assert body_of(websocket_handler(message_event({"action": method}), None)) == {"handler": "default"}
    assert body_of(websocket_handler(message_event(route_key=method), None)) == {"handler": "default"}


def test_the_auth_mixins_expose_the_methods_the_test_above_refuses():
    names = {name for mixin in AUTH_MIXINS.values() for name in _public_methods(mixin)}
    assert {
        "get_login_url",
        "get_permission_denied_message",
        "get_redirect_field_name",
        "handle_no_permission",
        "get_permission_required",
        "has_permission",
        "get_test_func",
        "test_func",
    } <= names


@pytest.mark.parametrize("prefix", sorted(AUTH_MIXINS))
def test_a_declared_handler_beside_an_auth_mixin_can_be_selected(connected, settings, prefix, websocket_handler):
    settings.WEBSOCKETS = {"URL_PREFIX": f"/mixin-{prefix}/"}
    assert body_of(websocket_handler(message_event({"action": "greet"}), None)) == {"handler": "greet"}
    assert body_of(websocket_handler(message_event({"handler": "greet"}), None)) == {"handler": "greet"}


def test_allowing_a_framework_method_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="dispatch"):
        type("BadView", (WebSocketView,), {"ADDITIONAL_ALLOWED_HANDLERS": ["dispatch"]})


def test_marking_a_framework_method_as_a_handler_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="connect"):
        type("BadView", (WebSocketView,), {"connect": handlers.handler(lambda self, request: None)})


def test_marking_a_private_method_as_a_handler_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="_helper"):
        type("BadView", (WebSocketView,), {"_helper": handlers.handler(lambda self, request: None)})


def test_a_public_method_neither_marked_nor_listed_is_not_a_handler():
    view = type("PlainView", (WebSocketView,), {"helper": lambda self, request: None, "__module__": __name__})
    assert view._allowed_handlers == {"default"}


def test_a_listed_handler_need_not_be_marked_and_is_added_to_the_marked_ones():
    def marked(self, request):
        return None

    def listed(self, request):
        return None

    attributes = {"marked": handlers.handler(marked), "listed": listed, "ADDITIONAL_ALLOWED_HANDLERS": ["listed"]}
    view = type("MixedView", (WebSocketView,), attributes)
    assert view._allowed_handlers == {"default", "marked", "listed"}


def test_handler_is_importable_where_the_views_are():
    from websockets_app.views import handler as exported

    assert exported is handlers.handler


def test_allowing_a_name_that_is_not_a_method_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="missing"):
        type("BadView", (WebSocketView,), {"ALLOWED_HANDLERS": ["missing"]})


# -- permissions ---------------------------------------------------------------------------------------------------


def grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


@pytest.mark.parametrize(
    ("prefix", "codenames", "status"),
    [
        ("/perm/", [], 403),
        ("/perm/", ["view_websocketsession"], 200),
        ("/allperm/", ["view_websocketsession"], 403),
        ("/allperm/", ["view_websocketsession", "change_websocketsession"], 200),
    ],
)
def test_permissions_are_checked_on_connect(
    api, client, django_user_model, settings, prefix, codenames, status, websocket_handler
):
    settings.WEBSOCKETS = {"URL_PREFIX": prefix}
    user = django_user_model.objects.create_user("perm", password="pw")
    grant(user, *codenames)
    result = websocket_handler(connect_event(cookie=session_cookie(client, user)), None)
    assert result["statusCode"] == status
    assert WebSocketSession.objects.exists() is (status == 200)


def test_permissions_are_checked_on_every_message(connected, django_user_model, settings, websocket_handler):
    settings.WEBSOCKETS = {"URL_PREFIX": "/perm/"}
    user = django_user_model.objects.create_user("perm", password="pw")
    connected.user = user
    connected.save()
    assert websocket_handler(message_event({}), None)["statusCode"] == 403
    grant(user, "change_websocketsession")
    assert websocket_handler(message_event({}), None)["statusCode"] == 200


def test_anonymous_connections_are_refused_where_permissions_are_required(api, settings, websocket_handler):
    settings.WEBSOCKETS = {"URL_PREFIX": "/perm/"}
    assert websocket_handler(connect_event(), None)["statusCode"] == 403


# -- $disconnect ---------------------------------------------------------------------------------------------------


def test_disconnect_marks_the_session_closed_in_one_update(connected, django_assert_num_queries, websocket_handler):
    with django_assert_num_queries(1):
        result = websocket_handler(disconnect_event(), None)
    assert result["statusCode"] == 200
    connected.refresh_from_db()
    assert connected.connected is False


def test_a_repeated_or_unknown_disconnect_is_a_404_that_changes_nothing(connected, websocket_handler):
    websocket_handler(disconnect_event(), None)
    connected.refresh_from_db()
    updated_on = connected.updated_on
    assert websocket_handler(disconnect_event(), None)["statusCode"] == 404
    assert websocket_handler(disconnect_event("other="), None)["statusCode"] == 404
    connected.refresh_from_db()
    assert connected.updated_on == updated_on


# -- trust -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["connect", "default", "disconnect", "echo"])
def test_a_plain_http_request_to_the_websocket_url_is_refused(connected, client, route):
    response = client.post(f"/ws/{route}", data={"action": "echo"}, content_type="application/json")
    assert response.status_code == 403
    assert response.content == b"Forbidden."
    connected.refresh_from_db()
    assert (connected.request_count, connected.connected) == (1, True)


def test_forged_gateway_headers_without_the_secret_are_refused(connected, client):
    response = client.post(
        "/ws/default",
        data={},
        content_type="application/json",
        headers={
            "X-WebSocket-Connection-Id": CONNECTION_ID,
            "X-WebSocket-Api-Id": API_ID,
            "X-WebSocket-Stage": STAGE,
            "X-WebSocket-Event-Type": "MESSAGE",
            "X-WebSocket-Secret": "guess",
        },
    )
    assert response.status_code == 403


def test_debug_log_records_why_a_request_was_refused(connected, rf):
    view = WebSocketView(debug=True)
    request = rf.post("/ws/default")
    view.setup(request, route="default")
    response = view.dispatch(request, route="default")
    assert response.status_code == 403
    assert view.debug_log == ["not from API Gateway (no trusted request context or integration secret)"]


def test_the_websocket_view_is_csrf_exempt(connected, client):
    csrf_client = type(client)(enforce_csrf_checks=True)
    response = csrf_client.post("/ws/default", data={}, content_type="application/json")
    assert response.status_code == 403
    assert response.content == b"Forbidden."  # the view's refusal, not the CSRF failure page
