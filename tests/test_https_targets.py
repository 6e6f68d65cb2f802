"""Provisioning never creates an HTTP_PROXY integration that would carry the integration secret over plain HTTP,
whatever way the row was written (ORM, shell, imported data: none of them runs the form's validators)."""

from __future__ import annotations

import pytest

from tests.aws import REGION
from websockets_app import provisioning
from websockets_app.models import ApiGateway, ApiGatewayAdditionalRoute
from websockets_app.provisioning import ProvisioningError

pytestmark = pytest.mark.django_db


def reload(gateway: ApiGateway) -> ApiGateway:
    return ApiGateway.objects.get(pk=gateway.pk)


def integrations(aws, gateway: ApiGateway) -> dict[str, tuple[str, str]]:
    found = {}
    for key, route in aws.routes(gateway.api_id).items():
        integration = aws.integration_of(gateway.api_id, route)
        found[key] = (integration["IntegrationId"], integration["IntegrationUri"])
    return found


@pytest.mark.parametrize(
    ("target", "route_url"),
    [
        ("http://www.example.com/ws/", ""),
        ("HTTP://www.example.com/ws/", ""),
        ("www.example.com/ws/", ""),
        ("https://www.example.com/ws/", "http://news.example.com/ws/news"),
        ("https://www.example.com/ws/", "ftp://news.example.com/ws/news"),
    ],
    ids=["http-target", "upper-case-http", "no-scheme", "http-route", "ftp-route"],
)
def test_a_row_with_a_non_https_target_creates_nothing_in_aws(aws, make_gateway, target, route_url):
    gateway = make_gateway(api_name="site", target_base_endpoint=target, region=REGION)
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway, name="News", route_key="news", integration_url=route_url
    )
    with pytest.raises(ProvisioningError, match="HTTPS") as raised:
        provisioning.create_api_gateway(gateway)
    assert aws.apigw.get_apis()["Items"] == []
    assert aws.clients_made == []
    stored = reload(gateway)
    assert stored.provisioning_error == f"Create API Gateway: {raised.value}"
    assert (stored.api_id, stored.api_created) == ("", False)
    assert stored.integration_secret not in stored.provisioning_error


def test_an_update_to_an_http_target_changes_nothing_in_aws(aws, make_gateway):
    gateway = make_gateway(api_name="site", target_base_endpoint="https://www.example.com/ws/", region=REGION)
    aws.expect_deployment(gateway)
    provisioning.create_api_gateway(gateway)
    gateway.refresh_from_db()
    before = integrations(aws, gateway)
    ApiGateway.objects.filter(pk=gateway.pk).update(target_base_endpoint="http://www.example.com/ws/")
    gateway.refresh_from_db()
    with pytest.raises(ProvisioningError, match=r"target_base_endpoint.*HTTPS"):
        provisioning.update_api_gateway(gateway)
    after = integrations(aws, gateway)
    assert after == before
    assert all(uri.startswith("https://") for _, uri in after.values())
    assert reload(gateway).provisioning_error.startswith("Update API Gateway: ")


def test_deploying_a_route_with_an_http_url_changes_nothing_in_aws(aws, make_gateway):
    gateway = make_gateway(api_name="site", target_base_endpoint="https://www.example.com/ws/", region=REGION)
    aws.expect_deployment(gateway)
    provisioning.create_api_gateway(gateway)
    gateway.refresh_from_db()
    route = ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway, name="Typing", route_key="typing", integration_url="http://www.example.com/ws/typing"
    )
    with pytest.raises(ProvisioningError, match=r"integration_url.*HTTPS"):
        provisioning.deploy_route(route)
    assert "typing" not in aws.routes(gateway.api_id)
    route.refresh_from_db()
    assert (route.integration_id, route.route_id, route.deployed) == ("", "", False)
    assert reload(gateway).provisioning_error.startswith("Deploy route 'typing': ")
