"""The dispatcher: every event shape reaches its entry point; anything else gets a clear error result."""

from __future__ import annotations

import json

import pytest

from infra import event_kinds, handlers
from tests import events as samples
from tests.test_http_handler import alb_event, function_url_event, http_api_v2_event, rest_v1_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (samples.connect_event(), event_kinds.WEBSOCKET),
        (samples.message_event({"action": "x"}), event_kinds.WEBSOCKET),
        (samples.disconnect_event(), event_kinds.WEBSOCKET),
        (http_api_v2_event("/"), event_kinds.HTTP),
        (function_url_event("/"), event_kinds.HTTP),
        (rest_v1_event("/"), event_kinds.HTTP),
        (alb_event("/"), event_kinds.HTTP),
        (samples.schedule_event("sessions"), event_kinds.CLEANUP),
        (samples.schedule_event(), event_kinds.CLEANUP),
        (
            {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {"cleanup": "tokens"}},
            event_kinds.CLEANUP,
        ),
        ({"manage": "check"}, event_kinds.MANAGE),
        ({"_serverless-wsgi": {"command": "manage", "data": "check"}}, event_kinds.MANAGE),
        (samples.sqs_event("{}"), event_kinds.FANOUT),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_event_kind_is_told_by_shape(event, kind):
    assert event_kinds.event_kind(event) == kind


@pytest.mark.parametrize(
    "event",
    [
        None,
        "connect",
        [],
        {},
        {"requestContext": "x"},
        {"requestContext": {"eventType": "PING"}},
        {"Records": []},
        {"Records": [{"eventSource": "aws:s3"}]},
        {"httpMethod": "GET"},
        {"detail-type": "Object Created", "source": "aws.s3"},
        {"requestContext": {"eventType": ["CONNECT"]}},
        {"requestContext": {"eventType": {"MESSAGE": 1}}},
        {"source": ["aws.events"]},
    ],
)
def test_an_event_of_no_known_shape_gets_a_clear_error_result(event):
    result = handlers.handler(event, None)
    assert result["ok"] is False
    assert result["error"].startswith("Unrecognised event")


def test_websocket_events_reach_the_websocket_view(settings, login_token, django_user_model):
    settings.ALLOWED_HOSTS = [samples.DOMAIN, "testserver"]
    token, cookie = login_token(django_user_model.objects.create_user("ada"))
    connect = samples.connect_event(query={"ws_token": token}, cookie=cookie)
    assert handlers.handler(connect, None)["statusCode"] == 200
    result = handlers.handler(samples.message_event({"action": "ping"}), None)
    assert json.loads(result["body"]) == {"pong": True}


def test_http_events_reach_django(settings):
    settings.ALLOWED_HOSTS = ["abc123.execute-api.eu-west-1.amazonaws.com"]
    assert handlers.handler(http_api_v2_event("/"), None)["statusCode"] == 200


def test_schedule_events_run_cleanup():
    assert handlers.handler(samples.schedule_event("sessions"), None)["ok"] is True


def test_manage_events_run_the_command():
    assert handlers.handler({"manage": "check"}, None)["exit_code"] == 0


def test_sqs_events_reach_the_fanout_consumer(caplog):
    result = handlers.handler(samples.sqs_event("not a fan-out batch"), None)
    assert result == {"batchItemFailures": []}  # it can never succeed: logged and dropped, not retried
    assert "Fan-out message m-0 cannot be read" in caplog.text


@pytest.mark.parametrize(
    "event",
    [
        {"requestContext": {"eventType": "MESSAGE", "routeKey": "$default"}},  # no connection id
        {"requestContext": {"eventType": "MESSAGE", "connectionId": "abc="}},  # no route
        {"requestContext": {"eventType": "MESSAGE", "connectionId": "abc=", "routeKey": "../admin"}},
        {
            "requestContext": {"eventType": "MESSAGE", "connectionId": "abc=", "routeKey": "$default"},
            "body": "%%%",
            "isBase64Encoded": True,
        },
    ],
)
def test_a_malformed_websocket_event_is_a_400(event):
    assert handlers.handler(event, None) == {"statusCode": 400, "body": "Bad request."}


def test_a_websocket_connect_with_a_cookie_beyond_latin_1_is_served(settings):
    settings.ALLOWED_HOSTS = [samples.DOMAIN]
    settings.ROOT_URLCONF = "tests.ws_urls"  # a view without tokens: the connect is accepted on its cookie alone
    event = samples.connect_event(
        cookie="theme=\u0100\u20ac; sessionid=\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac"
    )
    assert handlers.handler(event, None)["statusCode"] == 200


def test_a_websocket_event_with_an_empty_header_list_is_served(settings):
    settings.ALLOWED_HOSTS = [samples.DOMAIN]
    settings.ROOT_URLCONF = "tests.ws_urls"  # a view without tokens: the connect is accepted on its cookie alone
    event = samples.connect_event()
    event["multiValueHeaders"]["X-Forwarded-For"] = []  # apig-wsgi reads the last value of this one
    assert handlers.handler(event, None)["statusCode"] == 200
