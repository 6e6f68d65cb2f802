"""Provisioning parity with template.yaml and the original package: routes created from Django send a handler's
reply back to the client (a "$default" route response), on create and on update; admin actions survive an
unexpected error on one row; the token endpoint gives a session to a user authenticated without one."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from tests.aws import REGION
from tests.events import API_ID, STAGE, connect_event
from websockets_app import provisioning
from websockets_app.models import ApiGateway, ApiGatewayAdditionalRoute, WebSocketSession, WebSocketToken

pytestmark = pytest.mark.django_db

TWO_WAY = {"$default", "chat"}


@pytest.fixture
def site(make_gateway) -> ApiGateway:
    gateway = make_gateway(api_name="site", target_base_endpoint="https://www.example.com/ws/", region=REGION)
    ApiGatewayAdditionalRoute.objects.create(api_gateway=gateway, name="Chat", route_key="chat")
    return gateway


def create(aws, gateway: ApiGateway) -> ApiGateway:
    aws.expect_deployment(gateway)
    provisioning.create_api_gateway(gateway)
    return ApiGateway.objects.get(pk=gateway.pk)


def update(aws, gateway: ApiGateway) -> ApiGateway:
    aws.expect_stage_update(gateway)
    aws.expect_deployment(gateway)
    provisioning.update_api_gateway(gateway)
    return ApiGateway.objects.get(pk=gateway.pk)


def recorded_responses(gateway: ApiGateway) -> dict[str, str]:
    ids = {key: value.get("response", "") for key, value in gateway.builtin_route_ids.items()}
    ids.update({route.route_key: route.route_response_id for route in gateway.additional_routes.all()})
    return ids


def assert_two_way_routes(aws, gateway: ApiGateway) -> None:
    """Exactly $default and the additional routes reply; each reply is the recorded "$default" route response."""
    responses = recorded_responses(gateway)
    for key, route in aws.routes(gateway.api_id).items():
        if key in TWO_WAY:
            assert route.get("RouteResponseSelectionExpression") == "$default", key
            response = aws.apigw.get_route_response(
                ApiId=gateway.api_id, RouteId=route["RouteId"], RouteResponseId=responses[key]
            )
            assert response["RouteResponseKey"] == "$default"
        else:
            assert not route.get("RouteResponseSelectionExpression"), key
            assert not responses.get(key), key


# -- route responses -----------------------------------------------------------------------------------------------


def test_created_routes_send_the_handlers_reply_back(aws, site):
    site = create(aws, site)
    assert_two_way_routes(aws, site)


def test_an_update_gives_routes_made_without_a_route_response_one(aws, site):
    """As on an API created by the original package (or before this change): routes with no route response."""
    site = create(aws, site)
    for key, route in aws.routes(site.api_id).items():
        if key in TWO_WAY:
            aws.apigw.delete_route_response(
                ApiId=site.api_id, RouteId=route["RouteId"], RouteResponseId=recorded_responses(site)[key]
            )
            aws.apigw.update_route(ApiId=site.api_id, RouteId=route["RouteId"], RouteResponseSelectionExpression="")
    ids = {key: {k: v for k, v in value.items() if k != "response"} for key, value in site.builtin_route_ids.items()}
    ApiGateway.objects.filter(pk=site.pk).update(builtin_route_ids=ids)
    ApiGatewayAdditionalRoute.objects.update(route_response_id="")

    site = update(aws, ApiGateway.objects.get(pk=site.pk))
    assert_two_way_routes(aws, site)


def test_a_route_response_deleted_outside_django_is_recreated(aws, site):
    site = create(aws, site)
    chat = aws.routes(site.api_id)["chat"]
    aws.apigw.delete_route_response(
        ApiId=site.api_id, RouteId=chat["RouteId"], RouteResponseId=recorded_responses(site)["chat"]
    )
    site = update(aws, site)
    assert_two_way_routes(aws, site)


def test_an_update_keeps_the_route_responses_it_has(aws, site):
    site = create(aws, site)
    before = recorded_responses(site)
    site = update(aws, site)
    assert recorded_responses(site) == before


def test_an_unrecorded_route_response_is_adopted(aws, site):
    site = create(aws, site)
    default_route = aws.routes(site.api_id)["$default"]["RouteId"]
    existing = recorded_responses(site)["$default"]
    ids = dict(site.builtin_route_ids)
    ids["$default"] = {k: v for k, v in ids["$default"].items() if k != "response"}
    ApiGateway.objects.filter(pk=site.pk).update(builtin_route_ids=ids)
    # AWS refuses a second "$default" route response (moto does not) and lists the one it has (moto cannot).
    aws.fail(aws.apigw, "CreateRouteResponse", "ConflictException", when=lambda p: p["RouteId"] == default_route)
    listed: list[str] = []

    def list_route_responses(params: dict[str, Any], **kwargs: Any) -> tuple[AWSResponse, dict[str, Any]]:
        listed.append(params["url_path"])
        item = {"RouteResponseId": existing, "RouteResponseKey": "$default"}
        return AWSResponse("https://aws.test", 200, {}, None), {"Items": [item]}

    aws.apigw.meta.events.register("before-call.apigatewayv2.GetRouteResponses", list_route_responses)
    site = update(aws, ApiGateway.objects.get(pk=site.pk))
    assert listed == [f"/v2/apis/{site.api_id}/routes/{default_route}/routeresponses"]
    assert recorded_responses(site)["$default"] == existing
    assert_two_way_routes(aws, site)


def test_a_redeployed_route_gets_its_route_response(aws, site):
    site = create(aws, site)
    route = ApiGatewayAdditionalRoute.objects.create(api_gateway=site, name="News", route_key="news")
    aws.expect_deployment(site)
    provisioning.deploy_route(route)
    route.refresh_from_db()
    news = aws.routes(site.api_id)["news"]
    assert news["RouteResponseSelectionExpression"] == "$default"
    response = aws.apigw.get_route_response(
        ApiId=site.api_id, RouteId=news["RouteId"], RouteResponseId=route.route_response_id
    )
    assert response["RouteResponseKey"] == "$default"

    aws.expect_deployment(site)
    provisioning.delete_route(route)
    route.refresh_from_db()
    assert (route.route_id, route.route_response_id) == ("", "")


# -- admin actions: an unexpected error is one row's failure -----------------------------------------------------------


def test_an_unexpected_error_on_one_row_is_reported_there_and_the_others_still_run(
    aws, admin_client, make_gateway, monkeypatch, caplog
):
    broken = make_gateway(api_name="broken", target_base_endpoint="https://a.example.com/ws/", region=REGION)
    fine = make_gateway(api_name="fine", target_base_endpoint="https://b.example.com/ws/", region=REGION)
    real_create = provisioning.create_api_gateway

    def create_or_crash(gateway: ApiGateway) -> list[str]:
        if gateway.api_name == "broken":
            raise KeyError(f"no {gateway.integration_secret}")  # an unforeseen bug, with a secret in its message
        return real_create(gateway)

    monkeypatch.setattr(provisioning, "create_api_gateway", create_or_crash)
    aws.expect_deployment(fine)
    response = admin_client.post(
        reverse("admin:websockets_app_apigateway_changelist"),
        {"action": "create_api_gateway", "_selected_action": [broken.pk, fine.pk]},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert messages == [
        "Create API Gateway failed for 'broken': unexpected error (KeyError); the server log has the details",
        "Create API Gateway succeeded for 'fine'.",
    ]
    assert ApiGateway.objects.get(pk=fine.pk).api_created
    broken.refresh_from_db()
    assert broken.provisioning_error == "Create API Gateway: unexpected error (KeyError)"
    assert broken.integration_secret not in " ".join(messages)
    [logged] = [record.getMessage() for record in caplog.records if "failed unexpectedly" in record.getMessage()]
    assert "KeyError" in logged
    assert "create_or_crash" in logged  # the traceback
    assert broken.integration_secret not in caplog.text


def test_an_unexpected_error_deploying_one_route_is_reported_and_the_save_stands(
    aws, admin_client, site, monkeypatch, django_capture_on_commit_callbacks
):
    site = create(aws, site)
    chat = site.additional_routes.get()

    def crash(route: ApiGatewayAdditionalRoute) -> list[str]:
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(provisioning, "deploy_route", crash)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:websockets_app_apigatewayadditionalroute_change", args=[chat.pk]),
            {"api_gateway": site.pk, "name": "Chat room", "route_key": "chat", "integration_url": ""},
        )
    assert response.status_code == 302
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert (
        "Deploy route failed for route 'chat' of 'site': unexpected error (RuntimeError); the server log has the "
        "details." in messages
    )
    assert ApiGatewayAdditionalRoute.objects.get(pk=chat.pk).name == "Chat room"


# -- the token endpoint: a user authenticated without a session -------------------------------------------------------


def header_user_middleware(get_response: Any) -> Any:
    """Authenticates from a header and keeps no session, as HTTP auth or an API-token middleware does."""

    def middleware(request: HttpRequest) -> HttpResponse:
        username = request.headers.get("X-Test-User")
        if username:
            request.user = get_user_model().objects.get(username=username)
        return get_response(request)

    return middleware


@pytest.fixture
def header_auth(settings) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.header_user_middleware"]


@pytest.mark.usefixtures("header_auth", "keep_test_connection", "ws_test_views")
def test_a_user_authenticated_without_a_session_gets_one_and_its_token_connects(
    client, django_user_model, settings, websocket_handler
):
    ada = django_user_model.objects.create_user("ada", password="pw")
    ApiGateway.objects.create(api_name="chat", api_id=API_ID, stage_name=STAGE, region="eu-west-1")
    settings.WEBSOCKETS = {"URL_PREFIX": "/secure/"}  # tokens on, TOKEN_REQUIRES_SESSION by default

    response = client.post("/api/ws-token/", headers={"X-Test-User": "ada"})
    assert response.status_code == 200
    session_key = response.cookies["sessionid"].value
    assert WebSocketToken.objects.get().session_key == session_key

    event = connect_event(query={"ws_token": response.json()["token"]}, cookie=f"sessionid={session_key}")
    assert websocket_handler(event, None)["statusCode"] == 200
    assert WebSocketSession.objects.get().user == ada


@pytest.mark.usefixtures("header_auth")
def test_an_anonymous_caller_still_gets_no_session_and_no_token(client):
    response = client.post("/api/ws-token/")
    assert response.status_code == 403
    assert "sessionid" not in response.cookies
    assert not WebSocketToken.objects.exists()
