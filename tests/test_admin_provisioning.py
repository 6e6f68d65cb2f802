"""The provisioning actions and the route deploy-on-save, driven through the admin with the test client."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from tests.aws import REGION
from websockets_app.models import ApiGateway, ApiGatewayAdditionalRoute

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:websockets_app_apigateway_changelist"


@pytest.fixture
def site(make_gateway) -> ApiGateway:
    gateway = make_gateway(api_name="site", target_base_endpoint="https://www.example.com/ws/", region=REGION)
    ApiGatewayAdditionalRoute.objects.create(api_gateway=gateway, name="Chat", route_key="chat")
    return gateway


@pytest.fixture
def created(aws, site) -> ApiGateway:
    from websockets_app import provisioning

    aws.expect_deployment(site)
    provisioning.create_api_gateway(site)
    return ApiGateway.objects.get(pk=site.pk)


def run_action(client, action: str, *gateways: ApiGateway, **extra: str) -> tuple[Any, list[str]]:
    response = client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [g.pk for g in gateways], **extra}, follow=True
    )
    return response, [str(m) for m in get_messages(response.wsgi_request)]


def change_form(gateway: ApiGateway, routes: list[dict[str, str]], **fields: str) -> dict[str, str]:
    """The gateway's change form as a browser posts it, with the given inline route rows."""
    data = {
        "api_name": gateway.api_name,
        "api_description": gateway.api_description,
        "default_channel_name": gateway.default_channel_name,
        "integration_type": gateway.integration_type,
        "target_base_endpoint": gateway.target_base_endpoint,
        "lambda_function_arn": gateway.lambda_function_arn,
        "api_key_selection_expression": gateway.api_key_selection_expression,
        "route_selection_expression": gateway.route_selection_expression,
        "stage_description": gateway.stage_description,
        "region": gateway.region,
        "tags": "{}",
        "domain_name": gateway.domain_name,
        "certificate_arn": gateway.certificate_arn,
        "hosted_zone_id": gateway.hosted_zone_id,
        "additional_routes-TOTAL_FORMS": str(len(routes)),
        "additional_routes-INITIAL_FORMS": str(sum(1 for route in routes if route.get("id"))),
        **fields,
    }
    for i, route in enumerate(routes):
        data.update({f"additional_routes-{i}-{name}": value for name, value in route.items()})
        data[f"additional_routes-{i}-api_gateway"] = str(gateway.pk)
    return data


def existing(route: ApiGatewayAdditionalRoute, **changes: str) -> dict[str, str]:
    fields = {"id": str(route.pk), "name": route.name, "route_key": route.route_key, "integration_url": ""}
    return {**fields, **changes}


class TestActions:
    def test_create_builds_the_api_and_reports_it(self, aws, admin_client, site, caplog):
        aws.expect_deployment(site)
        with caplog.at_level(logging.INFO, logger="websockets_app.admin"):
            _, shown = run_action(admin_client, "create_api_gateway", site)
        assert shown == ["Create API Gateway succeeded for 'site'."]
        site.refresh_from_db()
        assert site.api_created
        assert set(aws.routes(site.api_id)) == {"$connect", "$disconnect", "$default", "chat"}
        audit = [m for m in caplog.messages if m.startswith("admin: ")]
        assert audit[0] == f"admin: Create API Gateway requested for 'site' (pk={site.pk})"
        assert audit[1].startswith(f"admin: Create API Gateway succeeded for 'site': created API {site.api_id}; ")

    def test_a_failure_names_the_gateway_and_the_aws_code_and_shows_on_the_row(self, aws, admin_client, site):
        aws.fail(aws.apigw, "CreateIntegration", "AccessDeniedException", message=f"no '{site.integration_secret}'")
        response, shown = run_action(admin_client, "create_api_gateway", site)
        [message] = shown
        assert message.startswith(
            "Create API Gateway failed for 'site': create integration ($connect) failed: AccessDeniedException"
        )
        assert site.integration_secret not in message
        assert site.integration_secret not in response.content.decode()
        site.refresh_from_db()
        assert site.api_id
        assert not site.api_created
        page = admin_client.get(reverse("admin:websockets_app_apigateway_change", args=[site.pk])).content.decode()
        assert "AccessDeniedException" in page  # the row's provisioning error is on its page
        assert site.integration_secret not in page

    def test_update_sends_the_changed_target(self, aws, admin_client, created):
        ApiGateway.objects.filter(pk=created.pk).update(target_base_endpoint="https://new.example.com/ws/")
        aws.expect_stage_update(created)
        aws.expect_deployment(created)
        _, shown = run_action(admin_client, "update_api_gateway", created)
        assert shown == ["Update API Gateway succeeded for 'site'."]
        connect = aws.routes(created.api_id)["$connect"]
        assert aws.integration_of(created.api_id, connect)["IntegrationUri"] == "https://new.example.com/ws/connect"

    def test_delete_asks_for_confirmation_first(self, aws, admin_client, created):
        response, shown = run_action(admin_client, "delete_api_gateway", created)
        assert shown == []
        page = response.content.decode()
        assert "Delete these API Gateways from AWS?" in page
        assert f"API {created.api_id}" in page
        assert 'name="post" value="yes"' in page
        assert len(aws.apigw.get_apis()["Items"]) == 1

    def test_delete_once_confirmed_removes_the_api_and_keeps_the_row(self, aws, admin_client, created):
        _, shown = run_action(admin_client, "delete_api_gateway", created, post="yes")
        assert shown == ["Delete API Gateway succeeded for 'site'."]
        assert aws.apigw.get_apis()["Items"] == []
        row = ApiGateway.objects.get(pk=created.pk)
        assert (row.api_id, row.api_created) == ("", False)

    def test_each_row_is_reported_on_its_own(self, aws, admin_client, created, make_gateway):
        bare = make_gateway(api_name="bare")
        _, shown = run_action(admin_client, "create_custom_domain", created, bare)
        assert sorted(shown) == [
            "Create Custom Domain failed for 'bare': Create API Gateway 'bare' before its custom domain.",
            "Create Custom Domain failed for 'site': API Gateway 'site' needs a domain name and a certificate ARN.",
        ]


class TestRoutesDeployOnSave:
    def post_change(self, client, gateway: ApiGateway, routes: list[dict[str, str]], capture) -> list[str]:
        url = reverse("admin:websockets_app_apigateway_change", args=[gateway.pk])
        with capture(execute=True):
            response = client.post(url, change_form(gateway, routes))
        assert response.status_code == 302, response.context["errors"] if response.context else response
        return [str(m) for m in get_messages(response.wsgi_request)]

    def test_a_route_added_inline_to_a_created_api_is_deployed(
        self, aws, admin_client, created, django_capture_on_commit_callbacks
    ):
        chat = created.additional_routes.get()
        aws.expect_deployment(created)
        routes = [existing(chat), {"name": "Typing", "route_key": "typing", "integration_url": ""}]
        shown = self.post_change(admin_client, created, routes, django_capture_on_commit_callbacks)
        assert "Deploy route succeeded for route 'typing' of 'site'." in shown
        typing = ApiGatewayAdditionalRoute.objects.get(route_key="typing")
        assert typing.deployed
        assert aws.routes(created.api_id)["typing"]["RouteId"] == typing.route_id
        assert ApiGatewayAdditionalRoute.objects.get(route_key="chat").deployed  # unchanged, not redeployed

    def test_a_route_changed_inline_is_updated_in_aws(
        self, aws, admin_client, created, django_capture_on_commit_callbacks
    ):
        chat = created.additional_routes.get()
        aws.expect_deployment(created)
        routes = [existing(chat, integration_url="https://chat.example.com/ws/chat")]
        shown = self.post_change(admin_client, created, routes, django_capture_on_commit_callbacks)
        assert "Deploy route succeeded for route 'chat' of 'site'." in shown
        route = aws.routes(created.api_id)["chat"]
        assert aws.integration_of(created.api_id, route)["IntegrationUri"] == "https://chat.example.com/ws/chat"

    def test_a_route_deleted_inline_is_deleted_from_aws(
        self, aws, admin_client, created, django_capture_on_commit_callbacks
    ):
        chat = created.additional_routes.get()
        aws.expect_deployment(created)
        shown = self.post_change(
            admin_client, created, [existing(chat, DELETE="on")], django_capture_on_commit_callbacks
        )
        assert "Delete route from AWS succeeded for route 'chat' of 'site'." in shown
        assert "chat" not in aws.routes(created.api_id)
        assert not ApiGatewayAdditionalRoute.objects.exists()

    def test_a_failed_route_deployment_is_reported_and_the_row_is_kept_undeployed(
        self, aws, admin_client, created, django_capture_on_commit_callbacks
    ):
        aws.fail(aws.apigw, "CreateRoute", "LimitExceededException")
        routes = [existing(created.additional_routes.get()), {"name": "Typing", "route_key": "typing"}]
        shown = self.post_change(admin_client, created, routes, django_capture_on_commit_callbacks)
        assert any(
            m.startswith("Deploy route failed for route 'typing' of 'site': create route (typing) failed: Limit")
            for m in shown
        )
        typing = ApiGatewayAdditionalRoute.objects.get(route_key="typing")
        assert not typing.deployed
        assert typing.integration_id  # what was created is recorded
        assert typing.route_id == ""

    def test_routes_of_an_api_not_yet_created_are_only_saved(
        self, aws, admin_client, site, django_capture_on_commit_callbacks
    ):
        routes = [existing(site.additional_routes.get(), DELETE="on"), {"name": "Typing", "route_key": "typing"}]
        shown = self.post_change(admin_client, site, routes, django_capture_on_commit_callbacks)
        assert not any("route" in m for m in shown)
        assert list(ApiGatewayAdditionalRoute.objects.values_list("route_key", flat=True)) == ["typing"]
        assert aws.clients_made == []

    def test_the_route_admin_deploys_changes_and_deletes_from_aws(
        self, aws, admin_client, created, django_capture_on_commit_callbacks
    ):
        chat = created.additional_routes.get()
        url = reverse("admin:websockets_app_apigatewayadditionalroute_change", args=[chat.pk])
        data = {"api_gateway": created.pk, "name": "Chat", "route_key": "talk", "integration_url": ""}
        aws.expect_deployment(created)
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(url, data)
        assert "Deploy route succeeded for route 'talk' of 'site'." in map(str, get_messages(response.wsgi_request))
        assert set(aws.routes(created.api_id)) == {"$connect", "$disconnect", "$default", "talk"}

        aws.expect_deployment(created)
        delete_url = reverse("admin:websockets_app_apigatewayadditionalroute_delete", args=[chat.pk])
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(delete_url, {"post": "yes"})
        assert "talk" not in aws.routes(created.api_id)
        assert not ApiGatewayAdditionalRoute.objects.exists()


class TestChangePage:
    def test_the_stage_is_locked_once_created_and_aws_fields_cannot_be_posted(
        self, aws, admin_client, created, django_capture_on_commit_callbacks
    ):
        url = reverse("admin:websockets_app_apigateway_change", args=[created.pk])
        page = admin_client.get(url).content.decode()
        assert 'name="stage_name"' not in page
        assert 'name="api_id"' not in page
        data = change_form(created, [existing(created.additional_routes.get())], api_id="forged", stage_name="x")
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = admin_client.post(url, data)
        [shown] = map(str, get_messages(response.wsgi_request))
        assert "was changed successfully" in shown
        assert callbacks == []  # an unchanged route is not sent to AWS again
        row = ApiGateway.objects.get(pk=created.pk)
        assert (row.api_id, row.stage_name) == (created.api_id, "production")

    def test_a_new_gateway_can_choose_its_stage(self, admin_client):
        page = admin_client.get(reverse("admin:websockets_app_apigateway_add")).content.decode()
        assert 'name="stage_name"' in page
        assert 'name="lambda_function_arn"' in page
