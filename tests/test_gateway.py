"""GatewayContext: connection facts from the Lambda request context, or from an HTTP integration's headers."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.events import API_ID, CONNECTION_ID, DOMAIN, STAGE, request_context
from websockets_app.gateway import (
    REQUEST_CONTEXT_ENVIRON_KEY,
    SECRET_HEADER,
    GatewayContext,
    integration_request_parameters,
)
from websockets_app.models import ApiGateway, WebSocketSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(db) -> ApiGateway:
    return ApiGateway.objects.create(api_name="http-mode", api_id=API_ID, stage_name=STAGE, default_channel_name="d")


def integration_headers(api: ApiGateway, event_type: str, **overrides: str) -> dict[str, str]:
    headers = {
        "X-WebSocket-Connection-Id": CONNECTION_ID,
        "X-WebSocket-Api-Id": api.api_id,
        "X-WebSocket-Stage": api.stage_name,
        "X-WebSocket-Event-Type": event_type,
        "X-WebSocket-Route-Key": {"CONNECT": "$connect", "DISCONNECT": "$disconnect"}.get(event_type, "$default"),
        "X-WebSocket-Source-Ip": "198.51.100.4",
        SECRET_HEADER: api.integration_secret,
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    headers.update(overrides)
    return headers


def test_the_lambda_request_context_is_trusted(rf):
    request = rf.post("/ws/default")
    request.META[REQUEST_CONTEXT_ENVIRON_KEY] = request_context("MESSAGE", "$default")
    context = GatewayContext.from_request(request)
    assert context.trusted
    assert (context.via, context.connection_id, context.api_id, context.stage) == (
        "lambda",
        CONNECTION_ID,
        API_ID,
        STAGE,
    )
    assert (context.event_type, context.route_key, context.source_ip) == ("MESSAGE", "$default", "203.0.113.7")
    assert context.region == "eu-west-1"


def test_both_modes_carry_the_same_facts():
    # A fact only the Lambda context carries would be one views cannot rely on behind an HTTP integration.
    facts = {field.name for field in dataclasses.fields(GatewayContext)} - {"trusted", "via", "gateway"}
    assert facts == {"connection_id", "api_id", "stage", "event_type", "route_key", "source_ip", "domain_name"}


@pytest.mark.parametrize(
    "change",
    [{"connectionId": None}, {"connectionId": "has space"}, {"apiId": ""}, {"stage": 3}, {"eventType": "PING"}],
)
def test_an_incomplete_lambda_context_is_not_trusted(rf, change):
    request = rf.post("/ws/default")
    request.META[REQUEST_CONTEXT_ENVIRON_KEY] = {**request_context("MESSAGE", "$default"), **change}
    assert not GatewayContext.from_request(request).trusted


@pytest.mark.parametrize("event_type", ["PING", "message", 7, None])
def test_an_event_type_that_is_none_of_the_three_is_not_carried(rf, event_type):
    # event_type holds CONNECT, MESSAGE, DISCONNECT or "": never a value a log line would repeat from the request.
    request = rf.post("/ws/default")
    request.META[REQUEST_CONTEXT_ENVIRON_KEY] = {**request_context("MESSAGE", "$default"), "eventType": event_type}
    context = GatewayContext.from_request(request)
    assert (context.trusted, context.event_type) == (False, "")


def test_a_request_with_neither_context_nor_secret_is_not_trusted(rf):
    request = rf.post("/ws/default", HTTP_X_WEBSOCKET_CONNECTION_ID=CONNECTION_ID)
    context = GatewayContext.from_request(request)
    assert (context.trusted, context.via) == (False, "none")


def test_http_integration_headers_with_the_gateways_secret_are_trusted(rf, api, django_assert_num_queries):
    request = rf.post("/ws/default", headers=integration_headers(api, "MESSAGE"))
    with django_assert_num_queries(1):
        context = GatewayContext.from_request(request)
    assert context.trusted
    assert (context.via, context.gateway, context.source_ip) == ("http", api, "198.51.100.4")
    assert context.get_gateway() == api


@pytest.mark.parametrize(
    "overrides",
    [
        {SECRET_HEADER: "wrong"},
        {SECRET_HEADER: ""},
        {"X-WebSocket-Api-Id": "other"},
        {"X-WebSocket-Stage": "dev"},
        {"X-WebSocket-Event-Type": ""},
    ],
)
def test_http_integration_headers_without_the_right_secret_are_not_trusted(rf, api, overrides):
    request = rf.post("/ws/default", headers=integration_headers(api, "MESSAGE", **overrides))
    context = GatewayContext.from_request(request)
    assert not context.trusted
    assert context.gateway is None


def test_each_gateway_gets_its_own_secret(make_gateway):
    first, second = make_gateway(), make_gateway()
    assert len(first.integration_secret) >= 43
    assert first.integration_secret != second.integration_secret


def test_integration_request_parameters_carry_every_fact_and_the_secret(api):
    parameters = integration_request_parameters(api)
    assert parameters["integration.request.header.X-WebSocket-Connection-Id"] == "context.connectionId"
    assert parameters["integration.request.header.X-WebSocket-Event-Type"] == "context.eventType"
    assert parameters["integration.request.header.X-WebSocket-Source-Ip"] == "context.identity.sourceIp"
    assert parameters[f"integration.request.header.{SECRET_HEADER}"] == f"'{api.integration_secret}'"


def test_an_untrusted_context_has_no_gateway():
    with pytest.raises(ValueError, match="untrusted"):
        GatewayContext(trusted=False, via="none").get_gateway()


def test_a_custom_domain_leaves_the_region_to_the_settings(settings):
    settings.WEBSOCKETS = {"AWS_REGION": "us-east-2"}
    context = GatewayContext.from_lambda(request_context("CONNECT", "$connect", domainName="ws.example.com"))
    assert context.region == "us-east-2"
    assert context.get_gateway().api_endpoint == ""
    assert context.get_gateway().region == "us-east-2"


def test_the_execute_api_domain_names_the_region():
    context = GatewayContext.from_lambda(request_context("CONNECT", "$connect", domainName=DOMAIN))
    assert context.region == "eu-west-1"


# The same view over an HTTP_PROXY integration (Django hosted anywhere), through the test client.


@pytest.fixture
def http_mode(settings):
    settings.ROOT_URLCONF = "tests.ws_urls"


@pytest.mark.usefixtures("http_mode")
def test_the_http_integration_connects_messages_and_disconnects(client, api):
    connect = client.post("/ws/connect?channel=hall", headers=integration_headers(api, "CONNECT"))
    assert connect.status_code == 200
    session = WebSocketSession.objects.get()
    assert (session.connection_id, session.channel_name, session.api_gateway) == (CONNECTION_ID, "hall", api)

    message = client.post(
        "/ws/default",
        data={"action": "echo"},
        content_type="application/json",
        headers=integration_headers(api, "MESSAGE"),
    )
    assert json.loads(message.content)["handler"] == "echo"

    assert client.post("/ws/disconnect", headers=integration_headers(api, "DISCONNECT")).status_code == 200
    session.refresh_from_db()
    assert session.connected is False


@pytest.mark.usefixtures("http_mode")
@pytest.mark.parametrize("missing", ["Sec-WebSocket-Key", "Sec-WebSocket-Version"])
def test_the_http_integration_requires_the_handshake_headers_on_connect(client, api, missing):
    headers = integration_headers(api, "CONNECT")
    del headers[missing]
    assert client.post("/ws/connect", headers=headers).status_code == 400
    assert not WebSocketSession.objects.exists()


@pytest.mark.usefixtures("http_mode")
def test_the_http_integration_with_a_wrong_secret_is_refused(client, api):
    response = client.post("/ws/connect", headers=integration_headers(api, "CONNECT", **{SECRET_HEADER: "x" * 43}))
    assert response.status_code == 403
    assert not WebSocketSession.objects.exists()
