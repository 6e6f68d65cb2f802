"""Provisioning against a fake AWS: moto where it has the call (state read back through boto3), else Stubber."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from tests.aws import ACCOUNT, API_GATEWAY_ZONE, REGION
from websockets_app import provisioning
from websockets_app.gateway import SECRET_HEADER, integration_request_parameters
from websockets_app.models import ApiGateway, ApiGatewayAdditionalRoute, IntegrationType
from websockets_app.provisioning import ProvisioningError

pytestmark = pytest.mark.django_db

BUILTIN = {"$connect", "$disconnect", "$default"}
CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/12345678-1234-1234-1234-123456789012"


@pytest.fixture
def site(make_gateway) -> ApiGateway:
    """An HTTP_PROXY gateway with tags, a stage description and two additional routes."""
    gateway = make_gateway(
        api_name="site",
        api_description="The site's WebSocket API",
        target_base_endpoint="https://www.example.com/ws/",
        region=REGION,
        stage_description="live traffic",
        tags={"team": "web", "env": "test"},
    )
    ApiGatewayAdditionalRoute.objects.create(api_gateway=gateway, name="Chat", route_key="chat")
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway, name="News", route_key="news", integration_url="https://news.example.com/ws/news"
    )
    return gateway


@pytest.fixture
def function_arn(aws) -> str:
    return aws.create_function("site")


@pytest.fixture
def lambda_site(make_gateway, function_arn) -> ApiGateway:
    return make_gateway(
        api_name="lambda-site",
        integration_type=IntegrationType.AWS_PROXY,
        lambda_function_arn=function_arn,
        region=REGION,
        tags={"team": "web"},
    )


def create(aws, gateway: ApiGateway) -> list[str]:
    deployment = aws.expect_deployment(gateway)
    steps = provisioning.create_api_gateway(gateway)
    gateway.refresh_from_db()
    assert gateway.deployment_id == deployment
    return steps


def reload(gateway: ApiGateway) -> ApiGateway:
    return ApiGateway.objects.get(pk=gateway.pk)


class TestCreateHttpProxy:
    def test_builds_the_api_routes_integrations_and_stage_with_tags(self, aws, site):
        steps = create(aws, site)
        api = aws.apigw.get_api(ApiId=site.api_id)
        assert (api["Name"], api["ProtocolType"], api["Description"]) == (
            "site",
            "WEBSOCKET",
            "The site's WebSocket API",
        )
        assert api["RouteSelectionExpression"] == "$request.body.action"
        assert api["Tags"] == {"team": "web", "env": "test"}

        routes = aws.routes(site.api_id)
        assert set(routes) == BUILTIN | {"chat", "news"}
        targets = {key: aws.integration_of(site.api_id, route)["IntegrationUri"] for key, route in routes.items()}
        assert targets == {
            "$connect": "https://www.example.com/ws/connect",
            "$disconnect": "https://www.example.com/ws/disconnect",
            "$default": "https://www.example.com/ws/default",
            "chat": "https://www.example.com/ws/chat",
            "news": "https://news.example.com/ws/news",
        }
        for route in routes.values():
            integration = aws.integration_of(site.api_id, route)
            assert (integration["IntegrationType"], integration["IntegrationMethod"]) == ("HTTP_PROXY", "POST")
            # The secret header and the connection id travel through the integration's request parameters.
            assert integration["RequestParameters"] == integration_request_parameters(site)
            assert integration["RequestParameters"][f"integration.request.header.{SECRET_HEADER}"] == (
                f"'{site.integration_secret}'"
            )

        stage = aws.apigw.get_stage(ApiId=site.api_id, StageName="production")
        assert (stage["Description"], stage["Tags"]) == ("live traffic", {"team": "web", "env": "test"})
        assert steps[0] == f"created API {site.api_id}"
        assert steps[-1].startswith("deployed dep1")

    def test_the_row_records_every_id_and_the_routes_are_deployed(self, aws, site):
        create(aws, site)
        routes = aws.routes(site.api_id)
        assert site.api_created
        assert site.stage_created
        assert site.api_endpoint.endswith(f"{site.api_id}.execute-api.{REGION}.amazonaws.com")
        assert site.provisioning_error == ""
        assert {key: ids["route"] for key, ids in site.builtin_route_ids.items()} == {
            key: routes[key]["RouteId"] for key in BUILTIN
        }
        for route in site.additional_routes.all():
            assert route.deployed
            assert route.route_id == routes[route.route_key]["RouteId"]
            assert routes[route.route_key]["Target"] == f"integrations/{route.integration_id}"
        assert len(aws.integration_ids(site.api_id)) == 5

    def test_creating_a_created_api_again_is_refused(self, aws, site):
        create(aws, site)
        with pytest.raises(ProvisioningError, match="already been created; use Update API Gateway"):
            provisioning.create_api_gateway(site)
        assert len(aws.apigw.get_apis()["Items"]) == 1


class TestCreateAwsProxy:
    def test_routes_invoke_the_lambda_function_which_allows_the_api(self, aws, lambda_site, function_arn):
        create(aws, lambda_site)
        uri = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
        routes = aws.routes(lambda_site.api_id)
        assert set(routes) == BUILTIN
        for route in routes.values():
            integration = aws.integration_of(lambda_site.api_id, route)
            assert (integration["IntegrationType"], integration["IntegrationUri"]) == ("AWS_PROXY", uri)
            assert not integration.get("RequestParameters")  # no secret header: the Lambda event is trusted as is

        [statement] = aws.policy_statements(function_arn)
        assert statement["Action"] == "lambda:InvokeFunction"
        assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
        source = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{lambda_site.api_id}/*"
        assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == source
        assert lambda_site.lambda_permission_function_arn == function_arn
        assert ("lambda", REGION) in aws.clients_made

    def test_a_permission_granted_by_a_run_that_stopped_before_recording_it_is_fine(
        self, aws, lambda_site, function_arn
    ):
        aws.fail(aws.lambda_, "AddPermission", "ResourceConflictException", message="statement id already exists")
        create(aws, lambda_site)
        assert lambda_site.api_created
        assert lambda_site.lambda_permission_function_arn == function_arn


class TestFailureAndResume:
    def test_a_failing_step_leaves_an_exact_record_and_a_second_run_completes(self, aws, site):
        aws.fail(
            aws.apigw, "CreateRoute", "AccessDeniedException", when=lambda params: params["RouteKey"] == "$default"
        )
        with pytest.raises(ProvisioningError) as failure:
            provisioning.create_api_gateway(site)
        message = str(failure.value)
        assert message == "create route ($default) failed: AccessDeniedException (injected failure)"

        site = reload(site)
        assert site.api_id
        assert not site.api_created
        assert not site.stage_created
        assert site.deployment_id == ""
        assert site.provisioning_error == f"Create API Gateway: {message}"
        # AWS holds exactly what the row records: two complete routes, and the $default integration.
        routes = aws.routes(site.api_id)
        assert set(routes) == {"$connect", "$disconnect"}
        assert set(site.builtin_route_ids["$default"]) == {"integration"}
        recorded = {ids["integration"] for ids in site.builtin_route_ids.values()}
        assert aws.integration_ids(site.api_id) == recorded
        assert not site.additional_routes.filter(deployed=True).exists()

        create(aws, site)
        assert site.api_created
        assert site.provisioning_error == ""
        assert len(aws.apigw.get_apis()["Items"]) == 1  # the same API, continued
        assert set(aws.routes(site.api_id)) == BUILTIN | {"chat", "news"}
        assert len(aws.integration_ids(site.api_id)) == 5  # nothing created twice

    def test_a_failed_deployment_is_retried_without_recreating_the_stage(self, aws, site):
        aws.fail_stubbed("create_deployment", "TooManyRequestsException")
        with pytest.raises(ProvisioningError, match=r"create deployment failed: TooManyRequestsException"):
            provisioning.create_api_gateway(site)
        site = reload(site)
        assert site.stage_created
        assert not site.api_created
        assert site.deployment_id == ""

        aws.expect_stage_update(site, description="live traffic")
        create(aws, site)
        assert site.api_created
        assert [stage["StageName"] for stage in aws.apigw.get_stages(ApiId=site.api_id)["Items"]] == ["production"]

    def test_a_route_that_exists_but_was_never_recorded_is_adopted(self, aws, site):
        create(aws, site)
        connect_route = site.builtin_route_ids["$connect"]["route"]
        # As if the run had stopped between AWS creating the route and the row recording it.
        ApiGateway.objects.filter(pk=site.pk).update(
            api_created=False, builtin_route_ids={**site.builtin_route_ids, "$connect": {}}
        )
        # AWS refuses a second route with the same key (moto does not, so the refusal is injected).
        aws.fail(aws.apigw, "CreateRoute", "ConflictException", when=lambda params: params["RouteKey"] == "$connect")
        aws.expect_stage_update(reload(site), description="live traffic")
        create(aws, reload(site))
        site = reload(site)
        assert site.builtin_route_ids["$connect"]["route"] == connect_route
        assert len(aws.routes(site.api_id)) == 5
        assert len(aws.integration_ids(site.api_id)) == 5  # the unrecorded integration was removed

    def test_an_aws_message_never_carries_the_secret_into_the_error(self, aws, site):
        aws.fail(
            aws.apigw, "CreateIntegration", "BadRequestException", message=f"bad value '{site.integration_secret}'"
        )
        with pytest.raises(ProvisioningError) as failure:
            provisioning.create_api_gateway(site)
        assert site.integration_secret not in str(failure.value)
        assert "[secret]" in str(failure.value)
        assert site.integration_secret not in reload(site).provisioning_error
        assert failure.value.__cause__ is None
        assert failure.value.__suppress_context__

    def test_a_connection_failure_is_reported_by_name(self, aws, site):
        def unreachable(**kwargs):
            raise EndpointConnectionError(endpoint_url="https://apigateway.eu-west-1.amazonaws.com")

        aws.apigw.meta.events.register("before-parameter-build.apigatewayv2.CreateApi", unreachable)
        with pytest.raises(ProvisioningError, match=r"^create API failed: EndpointConnectionError \(Could not"):
            provisioning.create_api_gateway(site)
        assert reload(site).api_id == ""


class TestUpdate:
    def test_changed_target_stage_and_tags_update_the_existing_resources(self, aws, site):
        create(aws, site)
        before = dict(site.builtin_route_ids)
        site.target_base_endpoint = "https://new.example.com/socket/"
        site.stage_description = "moved"
        site.api_description = "moved too"
        site.tags = {"team": "chat"}
        site.save()
        aws.expect_stage_update(site, description="moved")
        deployment = aws.expect_deployment(site)

        steps = provisioning.update_api_gateway(site)
        site = reload(site)
        assert site.deployment_id == deployment
        assert site.builtin_route_ids == before  # updated in place, not recreated
        routes = aws.routes(site.api_id)
        assert aws.integration_of(site.api_id, routes["$connect"])["IntegrationUri"] == (
            "https://new.example.com/socket/connect"
        )
        assert (
            aws.integration_of(site.api_id, routes["chat"])["IntegrationUri"] == "https://new.example.com/socket/chat"
        )
        assert aws.integration_of(site.api_id, routes["news"])["IntegrationUri"] == "https://news.example.com/ws/news"
        assert aws.apigw.get_api(ApiId=site.api_id)["Description"] == "moved too"
        assert aws.apigw.get_api(ApiId=site.api_id)["Tags"] == {"team": "chat"}
        stage_arn = f"arn:aws:apigateway:{REGION}::/apis/{site.api_id}/stages/production"
        assert aws.apigw.get_tags(ResourceArn=stage_arn)["Tags"] == {"team": "chat"}
        assert "updated the $connect integration" in steps

    def test_update_needs_a_created_api(self, aws, site):
        with pytest.raises(ProvisioningError, match="Create API Gateway 'site' first"):
            provisioning.update_api_gateway(site)
        assert aws.apigw.get_apis()["Items"] == []

    def test_switching_to_aws_proxy_replaces_integrations_and_grants_the_permission(self, aws, site, function_arn):
        create(aws, site)
        old_integrations = aws.integration_ids(site.api_id)
        site.integration_type = IntegrationType.AWS_PROXY
        site.lambda_function_arn = function_arn
        site.save()
        aws.expect_stage_update(site, description="live traffic")
        aws.expect_deployment(site)
        provisioning.update_api_gateway(site)

        site = reload(site)
        integrations = aws.integration_ids(site.api_id)
        assert len(integrations) == 5
        assert not integrations & old_integrations
        for route in aws.routes(site.api_id).values():
            assert aws.integration_of(site.api_id, route)["IntegrationType"] == "AWS_PROXY"
        assert len(aws.policy_statements(function_arn)) == 1

        site.integration_type = IntegrationType.HTTP_PROXY
        site.save()
        aws.expect_stage_update(site, description="live traffic")
        aws.expect_deployment(site)
        provisioning.update_api_gateway(site)
        assert aws.policy_statements(function_arn) == []
        assert reload(site).lambda_permission_function_arn == ""

    def test_a_route_deleted_from_the_database_is_deleted_from_aws(self, aws, site):
        create(aws, site)
        site.additional_routes.filter(route_key="news").delete()
        aws.expect_stage_update(site, description="live traffic")
        aws.expect_deployment(site)
        steps = provisioning.update_api_gateway(site)
        assert set(aws.routes(site.api_id)) == BUILTIN | {"chat"}
        assert len(aws.integration_ids(site.api_id)) == 4
        assert "deleted the news route, which no row describes" in steps

    def test_an_integration_deleted_outside_django_is_created_again(self, aws, site):
        create(aws, site)
        route = site.additional_routes.get(route_key="chat")
        aws.apigw.delete_route(ApiId=site.api_id, RouteId=route.route_id)
        aws.apigw.delete_integration(ApiId=site.api_id, IntegrationId=route.integration_id)
        aws.expect_stage_update(site, description="live traffic")
        aws.expect_deployment(site)
        provisioning.update_api_gateway(site)
        route.refresh_from_db()
        chat = aws.routes(site.api_id)["chat"]
        assert (chat["RouteId"], chat["Target"]) == (route.route_id, f"integrations/{route.integration_id}")


class TestRoutes:
    def test_a_new_route_is_deployed_to_a_created_api(self, aws, site):
        create(aws, site)
        route = ApiGatewayAdditionalRoute.objects.create(api_gateway=site, name="Typing", route_key="typing")
        aws.expect_deployment(site)
        provisioning.deploy_route(route)
        route.refresh_from_db()
        assert route.deployed
        assert aws.routes(site.api_id)["typing"]["RouteId"] == route.route_id

    def test_a_changed_route_key_and_url_update_the_same_route(self, aws, site):
        create(aws, site)
        route = site.additional_routes.get(route_key="chat")
        route_id, integration_id = route.route_id, route.integration_id
        route.route_key, route.integration_url = "talk", "https://talk.example.com/ws/talk"
        route.save()
        aws.expect_deployment(site)
        provisioning.deploy_route(route)
        talk = aws.routes(site.api_id)["talk"]
        assert talk["RouteId"] == route_id
        assert aws.integration_of(site.api_id, talk)["IntegrationId"] == integration_id
        assert aws.integration_of(site.api_id, talk)["IntegrationUri"] == "https://talk.example.com/ws/talk"
        assert "chat" not in aws.routes(site.api_id)

    def test_deleting_a_route_removes_it_and_its_integration(self, aws, site):
        create(aws, site)
        route = site.additional_routes.get(route_key="chat")
        aws.expect_deployment(site)
        provisioning.delete_route(route)
        route.refresh_from_db()
        assert (route.route_id, route.integration_id, route.deployed) == ("", "", False)
        assert "chat" not in aws.routes(site.api_id)
        assert len(aws.integration_ids(site.api_id)) == 4

    def test_deleting_a_route_that_was_never_deployed_calls_nothing(self, aws, site):
        assert provisioning.delete_route(site.additional_routes.get(route_key="chat")) == []
        assert aws.clients_made == []

    def test_a_route_cannot_be_deployed_before_its_api(self, aws, site):
        with pytest.raises(ProvisioningError, match="Create API Gateway 'site' first"):
            provisioning.deploy_route(site.additional_routes.get(route_key="chat"))


class TestCustomDomain:
    @pytest.fixture
    def zone(self, aws) -> str:
        return aws.hosted_zone("example.com")

    @pytest.fixture
    def created(self, aws, site, zone) -> ApiGateway:
        create(aws, site)
        site.domain_name, site.certificate_arn, site.hosted_zone_id = "ws.example.com", CERTIFICATE, zone
        site.save()
        return site

    def test_creates_a_regional_tls12_domain_its_mapping_and_alias_record(self, aws, created, zone):
        provisioning.create_custom_domain(created)
        site = reload(created)
        domain = aws.apigw.get_domain_name(DomainName="ws.example.com")
        [config] = domain["DomainNameConfigurations"]
        assert (config["CertificateArn"], config["EndpointType"], config["SecurityPolicy"]) == (
            CERTIFICATE,
            "REGIONAL",
            "TLS_1_2",
        )
        assert domain["Tags"] == {"team": "web", "env": "test"}
        [mapping] = aws.apigw.get_api_mappings(DomainName="ws.example.com")["Items"]
        assert (mapping["ApiId"], mapping["Stage"], mapping["ApiMappingId"]) == (
            site.api_id,
            "production",
            site.api_mapping_id,
        )
        [record] = aws.records(zone)
        assert record["Name"] == "ws.example.com."
        assert record["AliasTarget"]["DNSName"] == config["ApiGatewayDomainName"] == site.api_gateway_domain_name
        assert record["AliasTarget"]["HostedZoneId"] == API_GATEWAY_ZONE == site.api_gateway_hosted_zone_id
        assert site.custom_domain_created
        assert site.alias_record_zone_id == zone

    def test_an_update_leaves_the_domain_mapping_and_record_in_place(self, aws, created, zone):
        provisioning.create_custom_domain(created)
        aws.expect_stage_update(created, description="live traffic")
        aws.expect_deployment(created)
        provisioning.update_api_gateway(reload(created))
        assert len(aws.apigw.get_api_mappings(DomainName="ws.example.com")["Items"]) == 1
        assert len(aws.records(zone)) == 1
        assert reload(created).custom_domain_created

    def test_without_a_hosted_zone_no_record_is_written(self, aws, created, zone):
        created.hosted_zone_id = ""
        created.save()
        provisioning.create_custom_domain(created)
        assert aws.records(zone) == []
        assert reload(created).custom_domain_created

    def test_a_failed_mapping_is_resumed_without_a_second_domain(self, aws, created, zone):
        aws.fail(aws.apigw, "CreateApiMapping", "ConflictException")
        with pytest.raises(ProvisioningError, match=r"create API mapping failed: ConflictException"):
            provisioning.create_custom_domain(created)
        site = reload(created)
        assert site.api_gateway_domain_name
        assert not site.api_mapping_id
        assert not site.custom_domain_created
        assert aws.records(zone) == []

        provisioning.create_custom_domain(site)
        assert reload(site).custom_domain_created
        assert len(aws.apigw.get_domain_names()["Items"]) == 1
        assert len(aws.records(zone)) == 1

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"api_created": False}, "before its custom domain"),
            ({"custom_domain_created": True}, "already been created"),
            ({"certificate_arn": ""}, "needs a domain name and a certificate ARN"),
        ],
    )
    def test_preconditions_change_nothing(self, aws, created, fields, message):
        ApiGateway.objects.filter(pk=created.pk).update(**fields)
        with pytest.raises(ProvisioningError, match=message):
            provisioning.create_custom_domain(reload(created))
        assert aws.apigw.get_domain_names()["Items"] == []


class TestDelete:
    def test_removes_everything_that_was_created_and_resets_the_row(self, aws, lambda_site, function_arn):
        zone = aws.hosted_zone("example.com")
        ApiGatewayAdditionalRoute.objects.create(api_gateway=lambda_site, name="Chat", route_key="chat")
        create(aws, lambda_site)
        lambda_site.domain_name, lambda_site.certificate_arn, lambda_site.hosted_zone_id = (
            "ws.example.com",
            CERTIFICATE,
            zone,
        )
        lambda_site.save()
        provisioning.create_custom_domain(lambda_site)

        steps = provisioning.delete_api_gateway(reload(lambda_site))
        assert aws.apigw.get_apis()["Items"] == []
        assert aws.apigw.get_domain_names()["Items"] == []
        assert aws.records(zone) == []
        assert aws.policy_statements(function_arn) == []
        site = reload(lambda_site)
        aws_fields = (
            "api_id",
            "api_endpoint",
            "deployment_id",
            "api_mapping_id",
            "api_gateway_domain_name",
            "api_gateway_hosted_zone_id",
            "alias_record_zone_id",
            "lambda_permission_function_arn",
        )
        assert all(getattr(site, name) == "" for name in aws_fields)
        assert site.builtin_route_ids == {}
        assert not (site.api_created)
        assert not (site.stage_created)
        assert not (site.custom_domain_created)
        assert list(site.additional_routes.values_list("route_id", "integration_id", "deployed")) == [("", "", False)]
        assert site.domain_name == "ws.example.com"  # the row's own settings stay
        assert len(steps) == 5

    def test_a_failure_keeps_the_ids_of_what_still_exists_and_a_rerun_finishes(self, aws, site):
        create(aws, site)
        aws.fail(aws.apigw, "DeleteApi", "TooManyRequestsException")
        with pytest.raises(ProvisioningError, match="delete API failed: TooManyRequestsException"):
            provisioning.delete_api_gateway(site)
        assert reload(site).api_id == site.api_id
        provisioning.delete_api_gateway(reload(site))
        assert aws.apigw.get_apis()["Items"] == []
        assert reload(site).api_id == ""

    def test_nothing_to_delete_is_a_clear_error(self, aws, site):
        with pytest.raises(ProvisioningError, match="Nothing has been created in AWS for API Gateway 'site'"):
            provisioning.delete_api_gateway(site)

    def test_a_deleted_gateway_can_be_created_again(self, aws, site):
        create(aws, site)
        provisioning.delete_api_gateway(site)
        create(aws, reload(site))
        assert len(aws.apigw.get_apis()["Items"]) == 1


class TestPreconditions:
    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"target_base_endpoint": ""}, "needs a target base endpoint first"),
            ({"integration_type": IntegrationType.AWS_PROXY}, "needs a Lambda function ARN first"),
        ],
    )
    def test_missing_inputs_are_refused_before_any_call(self, aws, make_gateway, fields, message):
        gateway = make_gateway(**{"target_base_endpoint": "https://x.test/ws/", "region": REGION, **fields})
        with pytest.raises(ProvisioningError, match=message):
            provisioning.create_api_gateway(gateway)
        assert aws.clients_made == []
        assert reload(gateway).provisioning_error == ""

    def test_a_missing_region_is_refused(self, aws, make_gateway, monkeypatch, settings):
        monkeypatch.delenv("AWS_DEFAULT_REGION")
        monkeypatch.delenv("AWS_REGION", raising=False)
        settings.WEBSOCKETS = {}
        gateway = make_gateway(target_base_endpoint="https://x.test/ws/")
        with pytest.raises(ProvisioningError, match="No AWS region is known for API Gateway"):
            provisioning.create_api_gateway(gateway)
        assert aws.clients_made == []


def test_importing_the_app_and_its_admin_does_not_import_boto3():
    """boto3 costs Lambda cold-start time; only a provisioning call may import it (or botocore's client machinery)."""
    code = (
        "import sys, django; django.setup(); "
        "import websockets_app.admin, websockets_app.provisioning; "
        "loaded = [m for m in sys.modules if m == 'boto3' or m.startswith(('boto3.', 'botocore.'))]; "
        "sys.exit(str(loaded) if loaded else 0)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "project.settings", "DJANGO_DEBUG": "1", "PATH": ""}
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "operation",
    [
        provisioning.create_api_gateway,
        provisioning.update_api_gateway,
        provisioning.create_custom_domain,
        provisioning.delete_api_gateway,
    ],
)
def test_a_self_registered_gateway_is_never_changed_from_django(make_gateway, monkeypatch, operation):
    gateway = make_gateway(
        api_id="sam123",
        region=REGION,
        self_registered=True,
        api_created=True,
        lambda_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:site",
        integration_type=IntegrationType.AWS_PROXY,
        domain_name="ws.example.com",
        certificate_arn=CERTIFICATE,
    )

    def no_aws(*args, **kwargs):
        raise AssertionError("no AWS client may be made for a self-registered gateway")

    monkeypatch.setattr(provisioning.run, "make_client", no_aws)
    with pytest.raises(ProvisioningError, match="managed outside Django"):
        operation(gateway)
    gateway.refresh_from_db()
    assert gateway.provisioning_error == ""


def test_a_self_registered_gateways_routes_are_not_deployed_from_django(make_gateway, monkeypatch):
    gateway = make_gateway(
        api_id="sam124",
        region=REGION,
        self_registered=True,
        api_created=True,
        target_base_endpoint="https://www.example.com/ws/",
    )
    route = ApiGatewayAdditionalRoute.objects.create(api_gateway=gateway, name="Chat", route_key="chat")
    monkeypatch.setattr(provisioning.run, "make_client", lambda *args: pytest.fail("no AWS client expected"))
    for operation in (provisioning.deploy_route, provisioning.delete_route):
        with pytest.raises(ProvisioningError, match="managed outside Django"):
            operation(route)
