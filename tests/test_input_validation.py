"""Client input the view validates itself: channel names (from settings), message size, and what happens when a
handler fails: a generic 500, a log line with the request's context, nobody mailed."""

from __future__ import annotations

import json
import logging

import pytest
from django.core import mail

from tests.events import CONNECTION_ID, connect_event, message_event
from websockets_app.models import ApiGateway, WebSocketSession
from websockets_app.validators import validate_channel_name

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection", "ws_test_views")]


@pytest.fixture
def connected(db, websocket_handler) -> WebSocketSession:
    assert websocket_handler(connect_event(query={"channel": "lobby"}), None)["statusCode"] == 200
    return WebSocketSession.objects.get()


@pytest.mark.parametrize("channel", ["lobby", "room-7", "team.eng:general", "user@example", "ünïcode", "x" * 128])
def test_channel_names_the_default_pattern_allows(channel):
    validate_channel_name(channel)


@pytest.mark.parametrize(
    "channel", ["", " ", "a b", "x" * 129, "line\nbreak", "nul\x00", "slash/", "<script>", "semi;colon", 7, None]
)
def test_channel_names_the_default_pattern_refuses(channel):
    with pytest.raises(Exception, match="channel name"):
        validate_channel_name(channel)


def test_the_channel_pattern_and_length_come_from_settings(settings):
    settings.WEBSOCKETS = {"CHANNEL_NAME_PATTERN": r"room-[0-9]+", "CHANNEL_NAME_MAX_LENGTH": 8}
    validate_channel_name("room-123")
    for refused in ("lobby", "room-1234", "room-"):
        with pytest.raises(Exception, match="channel name"):
            validate_channel_name(refused)


def test_a_connect_with_a_channel_the_settings_refuse_writes_nothing_but_its_attempt(settings, websocket_handler):
    settings.WEBSOCKETS = {"CHANNEL_NAME_PATTERN": r"room-[0-9]+"}
    result = websocket_handler(connect_event(query={"channel": "lobby"}), None)
    assert (result["statusCode"], result["body"]) == (400, "Bad request.")
    assert not WebSocketSession.objects.exists()
    assert not ApiGateway.objects.exists()


def test_change_channel_follows_the_settings_too(connected, settings, websocket_handler):
    settings.WEBSOCKETS = {"CHANNEL_NAME_PATTERN": r"room-[0-9]+"}
    assert websocket_handler(message_event({"action": "join", "room": "kitchen"}), None)["statusCode"] == 400
    assert websocket_handler(message_event({"action": "join", "room": "room-2"}), None)["statusCode"] == 200
    connected.refresh_from_db()
    assert connected.channel_name == "room-2"


def test_a_message_over_128_kb_is_refused_and_not_counted(connected, websocket_handler):
    body = json.dumps({"text": "x" * (128 * 1024)})
    result = websocket_handler(message_event(raw=body), None)
    assert (result["statusCode"], result["body"]) == (400, "Bad request.")
    connected.refresh_from_db()
    assert connected.request_count == 1


def test_a_message_of_exactly_128_kb_is_accepted(connected, websocket_handler):
    padding = 128 * 1024 - len(json.dumps({"text": ""}))
    body = json.dumps({"text": "x" * padding})
    assert len(body) == 128 * 1024
    assert websocket_handler(message_event(raw=body), None)["statusCode"] == 200


def test_a_failing_handler_is_logged_with_its_context_answered_generically_and_mails_nobody(
    connected, caplog, websocket_handler
):
    with caplog.at_level(logging.ERROR, logger="websockets_app.views"):
        result = websocket_handler(message_event({"action": "broken"}), None)
    assert (result["statusCode"], result["body"]) == (500, "Internal server error.")
    [record] = [r for r in caplog.records if r.name == "websockets_app.views"]
    assert record.exc_info is not None
    assert (record.connection_id, record.event_type, record.route_key, record.handler) == (
        CONNECTION_ID,
        "MESSAGE",
        "$default",
        "broken",
    )
    assert mail.outbox == []


def test_a_message_far_over_djangos_upload_limit_is_a_400_not_a_500(connected, settings, websocket_handler):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"text": "x" * 4096})
    assert websocket_handler(message_event(raw=body), None)["statusCode"] == 400


def test_a_message_its_handler_answers_with_an_error_is_not_counted(connected, websocket_handler):
    assert websocket_handler(message_event({"action": "refuse"}), None)["statusCode"] == 409
    connected.refresh_from_db()
    assert connected.request_count == 1
    assert websocket_handler(message_event({"action": "echo"}), None)["statusCode"] == 200
    connected.refresh_from_db()
    assert connected.request_count == 2
