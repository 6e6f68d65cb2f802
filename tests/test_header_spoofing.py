"""HTTP integrations: a client header that WSGI folds into the same environ key as a header the integration adds
(``x_websocket_connection_id`` beside ``X-WebSocket-Connection-Id``, or the header sent twice) is refused with a
400 before anything is written, on the real paths: the Lambda HTTP entry point and Django behind a WSGI server."""

from __future__ import annotations

import pytest

from infra import handlers
from infra.http import ADAPTERS, build_http_handler
from project.wsgi import application
from websockets_app.gateway import SECRET_HEADER
from websockets_app.models import ApiGateway, ConnectionRateLimit, WebSocketSession

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]

HOST = "www.example.com"
API_ID = "httpmode1"
STAGE = "production"
NEWCOMER = "NewConnId0="
VICTIM = "VictimConn1="


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = "tests.ws_urls"
    settings.ALLOWED_HOSTS = [HOST, "testserver"]


@pytest.fixture
def api(db) -> ApiGateway:
    return ApiGateway.objects.create(api_name="http-mode", api_id=API_ID, stage_name=STAGE, default_channel_name="d")


@pytest.fixture
def victim(api) -> WebSocketSession:
    return WebSocketSession.objects.create(connection_id=VICTIM, api_gateway=api, channel_name="d")


def integration_headers(api: ApiGateway) -> dict[str, str]:
    """What API Gateway's HTTP_PROXY integration sends for a $connect (handshake headers included)."""
    return {
        "Host": HOST,
        "X-Forwarded-Proto": "https",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "X-WebSocket-Connection-Id": NEWCOMER,
        "X-WebSocket-Api-Id": API_ID,
        "X-WebSocket-Stage": STAGE,
        "X-WebSocket-Event-Type": "CONNECT",
        "X-WebSocket-Route-Key": "$connect",
        "X-WebSocket-Source-Ip": "198.51.100.4",
        SECRET_HEADER: api.integration_secret,
    }


def http_api_event(headers: dict[str, str]) -> dict:
    """An HTTP API (payload v2) event for POST /ws/connect: how the integration reaches Django hosted in Lambda."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/ws/connect",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "apiId": "site",
            "domainName": HOST,
            "http": {"method": "POST", "path": "/ws/connect", "protocol": "HTTP/1.1", "sourceIp": "52.0.0.1"},
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": "",
        "isBase64Encoded": False,
    }


def rest_api_event(multi_value_headers: dict[str, list[str]]) -> dict:
    """A REST API (payload v1) event, whose multiValueHeaders keep a repeated header's values apart."""
    return {
        "resource": "/{proxy+}",
        "path": "/ws/connect",
        "httpMethod": "POST",
        "headers": {name: values[-1] for name, values in multi_value_headers.items()},
        "multiValueHeaders": multi_value_headers,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "requestContext": {"identity": {"sourceIp": "52.0.0.1"}, "stage": "prod", "requestId": "req-2"},
        "body": None,
        "isBase64Encoded": False,
    }


SPOOFS = {
    # A $connect that would close another user's connection.
    "disconnect-another": {"x_websocket_event_type": "DISCONNECT", "x_websocket_connection_id": VICTIM},
    # A $connect counted against an address of the client's choosing.
    "choose-the-ip": {"x_websocket_source_ip": "192.0.2.99"},
    "route-key": {"x_websocket_route_key": "$disconnect"},
    "lower-case-dashes-twice": {"x-websocket-connection-id": VICTIM},
}


def assert_nothing_written(victim: WebSocketSession) -> None:
    victim.refresh_from_db()
    assert victim.connected is True
    assert list(WebSocketSession.objects.values_list("connection_id", flat=True)) == [VICTIM]
    assert not ConnectionRateLimit.objects.exists()


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("spoof", SPOOFS.values(), ids=SPOOFS.keys())
def test_a_second_spelling_of_an_integration_header_is_a_400_through_either_adapter(api, victim, adapter, spoof):
    # The client's spellings come last, so a last-one-wins merge would pick them.
    event = http_api_event({**integration_headers(api), **spoof})
    response = build_http_handler(application, adapter)(event, None)
    assert response["statusCode"] == 400
    assert_nothing_written(victim)


def test_the_lambda_http_entry_point_refuses_both_spellings(api, victim):
    event = http_api_event({**integration_headers(api), **SPOOFS["disconnect-another"]})
    assert handlers.http_handler(event, None)["statusCode"] == 400
    assert_nothing_written(victim)


def test_an_underscore_spelling_alone_is_refused_too(api, victim):
    headers = integration_headers(api)
    headers["X_WebSocket_Event_Type"] = headers.pop("X-WebSocket-Event-Type")
    assert handlers.http_handler(http_api_event(headers), None)["statusCode"] == 400
    assert_nothing_written(victim)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_repeated_integration_header_in_a_rest_event_is_a_400(api, victim, adapter):
    multi = {name: [value] for name, value in integration_headers(api).items()}
    multi["X-WebSocket-Connection-Id"] = [NEWCOMER, VICTIM]
    multi["X-WebSocket-Event-Type"] = ["CONNECT", "DISCONNECT"]
    response = build_http_handler(application, adapter)(rest_api_event(multi), None)
    assert response["statusCode"] == 400
    assert_nothing_written(victim)


def test_the_integration_headers_alone_still_connect(api, victim):
    response = handlers.http_handler(http_api_event(integration_headers(api)), None)
    assert response["statusCode"] == 200
    assert WebSocketSession.objects.filter(connection_id=NEWCOMER, connected=True).exists()


# Django behind a WSGI server: a header sent twice reaches the environ as one value, joined with commas.


@pytest.mark.parametrize(
    ("header", "joined"),
    [
        ("X-WebSocket-Connection-Id", f"{NEWCOMER},{VICTIM}"),
        ("X-WebSocket-Event-Type", "CONNECT,DISCONNECT"),
        ("X-WebSocket-Source-Ip", "198.51.100.4, 192.0.2.99"),
        ("X-WebSocket-Route-Key", "$connect,$disconnect"),
        ("X-WebSocket-Stage", f"{STAGE},{STAGE}"),
        ("X-WebSocket-Api-Id", f"{API_ID},{API_ID}"),
        (SECRET_HEADER, "secret,{secret}"),
    ],
)
def test_a_repeated_integration_header_through_the_test_client_is_a_400(client, api, victim, header, joined):
    headers = integration_headers(api)
    headers[header] = joined.replace("{secret}", api.integration_secret)
    response = client.post("/ws/connect", headers=headers)
    assert response.status_code == 400
    assert_nothing_written(victim)
