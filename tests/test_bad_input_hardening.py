"""Bad input that used to end in a 500, a crash or too little permission: each is refused cleanly now."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from websockets.sync.client import connect

from infra.cleanup import run_cleanup
from infra.handlers import cleanup_handler, handler
from tests.events import connect_event, message_event, request_context
from tests.local_gateway import gateway_for_tests
from tests.test_template import yaml_parameters
from websockets_app import provisioning
from websockets_app.aws_lambda.route_selection import select_route
from websockets_app.models import ApiGateway, WebSocketSession
from websockets_app.validators import STAGE_NAME_MAX_LENGTH, validate_stage_name

DEEPLY_NESTED = "[" * 20_000  # json.loads recurses once per bracket: RecursionError long before the end


# -- deeply nested JSON ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("keep_test_connection", "ws_test_views")
@pytest.mark.parametrize("body", [DEEPLY_NESTED, '{"a": ' * 20_000, DEEPLY_NESTED + "]" * 20_000])
def test_a_deeply_nested_message_is_a_400_and_not_counted(body):
    assert handler(connect_event(), None)["statusCode"] == 200
    result = handler(message_event(raw=body), None)
    assert (result["statusCode"], result["body"]) == (400, "Bad request.")
    assert WebSocketSession.objects.get().request_count == 1


def test_the_local_gateway_routes_a_deeply_nested_message_to_default():
    assert select_route(DEEPLY_NESTED, ("action",), frozenset({"echo"})) == "$default"


@pytest.mark.django_db(transaction=True)
def test_the_local_gateway_keeps_the_connection_after_a_deeply_nested_message(settings, ws_test_views, aws_credentials):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "testserver"]
    with (
        gateway_for_tests(settings, routes=frozenset({"echo"})) as running,
        connect(f"{running.gateway.ws_url}/") as client,
    ):
        client.send(DEEPLY_NESTED)
        client.send(json.dumps({"action": "echo", "text": "still here"}))
        replies = [client.recv(timeout=10), client.recv(timeout=10)]
    assert replies[0] == "Bad request."
    assert json.loads(replies[1])["handler"] == "echo"


# -- Delete from AWS needs delete permission -----------------------------------------------------------------------


@pytest.fixture
def change_only_admin(client, django_user_model):
    user = django_user_model.objects.create_user("operator", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_apigateway", "change_apigateway"], content_type__app_label="websockets_app"
        )
    )
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("confirmed", [False, True])
def test_delete_from_aws_needs_the_delete_permission(change_only_admin, monkeypatch, confirmed):
    deleted = []
    monkeypatch.setattr(provisioning, "delete_api_gateway", deleted.append)
    gateway = ApiGateway.objects.create(api_name="chat", api_id="abc123", api_created=True)
    changelist = reverse("admin:websockets_app_apigateway_changelist")
    page = change_only_admin.get(changelist)
    assert page.status_code == 200
    assert "delete_api_gateway" not in page.content.decode()  # not offered...
    data = {"action": "delete_api_gateway", "_selected_action": [gateway.pk], **({"post": "yes"} if confirmed else {})}
    response = change_only_admin.post(changelist, data, follow=True)
    assert deleted == []  # ...and not run when posted anyway
    assert "Delete these API Gateways from AWS?" not in response.content.decode()
    assert not any("Delete API Gateway" in str(m) for m in get_messages(response.wsgi_request))


@pytest.mark.django_db
def test_delete_from_aws_still_runs_with_the_delete_permission(admin_client, monkeypatch):
    deleted = []
    monkeypatch.setattr(provisioning, "delete_api_gateway", deleted.append)
    gateway = ApiGateway.objects.create(api_name="chat", api_id="abc123", api_created=True)
    admin_client.post(
        reverse("admin:websockets_app_apigateway_changelist"),
        {"action": "delete_api_gateway", "_selected_action": [gateway.pk], "post": "yes"},
    )
    assert [each.pk for each in deleted] == [gateway.pk]


# -- stage names ----------------------------------------------------------------------------------------------------


def test_the_stage_name_limit_is_api_gateways():
    assert STAGE_NAME_MAX_LENGTH == 128
    assert ApiGateway._meta.get_field("stage_name").max_length == STAGE_NAME_MAX_LENGTH
    assert yaml_parameters()["Stage"]["AllowedPattern"] == f"^[a-zA-Z0-9_-]{{1,{STAGE_NAME_MAX_LENGTH}}}$"


@pytest.mark.parametrize("stage", ["production", "v2_beta-1", "s" * 128])
def test_stage_names_api_gateway_allows(stage):
    validate_stage_name(stage)


@pytest.mark.parametrize("stage", ["s" * 129, "has space", "dollar$", "slash/", "ünï", "$default", ""])
def test_stage_names_api_gateway_refuses(stage):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        validate_stage_name(stage)


@pytest.mark.django_db
@pytest.mark.usefixtures("keep_test_connection", "ws_test_views")
@pytest.mark.parametrize("stage", ["s" * 64, "s" * 128])
def test_an_event_from_a_long_stage_registers_its_gateway(stage):
    event = connect_event()
    event["requestContext"] = request_context("CONNECT", "$connect", stage=stage)
    assert handler(event, None)["statusCode"] == 200
    assert ApiGateway.objects.get().stage_name == stage


@pytest.mark.django_db
@pytest.mark.usefixtures("keep_test_connection", "ws_test_views")
@pytest.mark.parametrize("stage", ["s" * 129, "s" * 5000, "bad stage", "x/../y"])
def test_an_event_with_an_invalid_stage_is_a_400_that_registers_nothing(stage):
    event = connect_event()
    event["requestContext"] = request_context("CONNECT", "$connect", stage=stage)
    assert handler(event, None)["statusCode"] == 400
    assert not ApiGateway.objects.exists()
    assert not WebSocketSession.objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("keep_test_connection", "ws_test_views")
def test_an_event_with_an_overlong_api_id_is_a_400_that_registers_nothing():
    event = connect_event()
    event["requestContext"] = request_context("CONNECT", "$connect", apiId="a" * 33)
    assert handler(event, None)["statusCode"] == 400
    assert not ApiGateway.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("stage", "error"), [("s" * 129, "at most 128"), ("bad stage", "letters, digits")])
def test_the_admin_refuses_an_invalid_stage_name_with_a_form_error(admin_client, stage, error):
    data = {
        "api_name": "site",
        "integration_type": "HTTP_PROXY",
        "api_key_selection_expression": "$request.header.x-api-key",
        "route_selection_expression": "$request.body.action",
        "tags": "{}",
        "stage_name": stage,
        "additional_routes-TOTAL_FORMS": "0",
        "additional_routes-INITIAL_FORMS": "0",
    }
    response = admin_client.post(reverse("admin:websockets_app_apigateway_add"), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not ApiGateway.objects.exists()


# -- cleanup events ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("job", [["sessions"], {}, {"sessions": 1}, [], 3, None, True])
def test_a_cleanup_job_that_is_not_a_name_is_a_clear_error(job):
    result = cleanup_handler({"cleanup": job}, None)
    assert result["ok"] is False
    assert "Unknown cleanup job" in result["error"]


@pytest.mark.django_db
def test_a_cleanup_job_in_the_detail_that_is_not_a_name_is_a_clear_error():
    assert run_cleanup({"detail": {"cleanup": ["tokens"]}})["ok"] is False
