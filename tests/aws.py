"""A fake AWS for the provisioning tests: moto for every operation it implements, botocore's Stubber for the rest.

moto 5.2.5 has no ``create_deployment`` or ``update_stage`` for apigatewayv2, so those two go to a stubbed client;
every other call, and every read-back in the tests, goes to moto. ``provisioning.run.make_client`` is replaced so the
code under test gets exactly these clients.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import zipfile
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
# What AWS reports as the Route 53 zone of regional API Gateway domains; moto reports none, see fill_domain_target.
API_GATEWAY_ZONE = "ZLY8HYME6SFDD"
STUBBED_OPERATIONS = frozenset({"create_deployment", "update_stage"})


class ApiGatewayClient:
    """The apigatewayv2 client the code sees: the operations moto lacks go to a Stubber, the rest to moto."""

    def __init__(self, moto_client: Any, stubbed_client: Any) -> None:
        self._moto = moto_client
        self._stubbed = stubbed_client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stubbed if name in STUBBED_OPERATIONS else self._moto, name)


class CurrentApiId:
    """Equal to the API id the row holds when the Stubber compares it (the id is moto's, made during the run)."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway

    def __eq__(self, other: object) -> bool:
        self.gateway.refresh_from_db(fields=["api_id"])
        return other == self.gateway.api_id

    def __repr__(self) -> str:
        return f"<api id of {self.gateway.api_name!r}>"


class FakeAws:
    def __init__(self) -> None:
        self.apigw = boto3.client("apigatewayv2", region_name=REGION)
        self.route53 = boto3.client("route53", region_name="us-east-1")
        self.lambda_ = boto3.client("lambda", region_name=REGION)
        self._stubbed = boto3.client("apigatewayv2", region_name=REGION)
        self.stubber = Stubber(self._stubbed)
        self.stubber.activate()
        self.clients_made: list[tuple[str, str]] = []
        self._deployments = itertools.count(1)

    def make_client(self, service: str, region: str) -> Any:
        self.clients_made.append((service, region))
        if service == "apigatewayv2":
            return ApiGatewayClient(self.apigw, self._stubbed)
        return {"route53": self.route53, "lambda": self.lambda_}.get(service) or boto3.client(service, region)

    # --- the stubbed operations -------------------------------------------------------------------------------

    def expect_deployment(self, gateway: Any = None, stage: str = "production") -> str:
        deployment_id = f"dep{next(self._deployments)}"
        api_id = CurrentApiId(gateway) if gateway is not None else ANY
        self.stubber.add_response(
            "create_deployment",
            {"DeploymentId": deployment_id, "DeploymentStatus": "DEPLOYED"},
            {"ApiId": api_id, "StageName": stage},
        )
        return deployment_id

    def expect_stage_update(self, gateway: Any, description: str = "", stage: str = "production") -> None:
        self.stubber.add_response(
            "update_stage",
            {"StageName": stage, "Description": description},
            {"ApiId": CurrentApiId(gateway), "StageName": stage, "Description": description},
        )

    def fail_stubbed(self, operation: str, code: str) -> None:
        self.stubber.add_client_error(
            operation, service_error_code=code, service_message="injected", http_status_code=400
        )

    # --- failure injection on moto's operations ------------------------------------------------------------------

    def fail(
        self,
        client: Any,
        operation: str,
        code: str,
        *,
        when: Callable[[dict[str, Any]], bool] = lambda params: True,
        message: str = "injected failure",
        times: int = 1,
    ) -> None:
        """Make the next ``times`` matching calls of ``operation`` (e.g. "CreateRoute") fail with ``code``."""
        remaining = [times]

        def handler(params: dict[str, Any], **kwargs: Any) -> None:
            if remaining[0] > 0 and when(params):
                remaining[0] -= 1
                raise ClientError({"Error": {"Code": code, "Message": message}}, operation)

        client.meta.events.register(
            f"before-parameter-build.{client.meta.service_model.service_name}.{operation}", handler
        )

    # --- reading AWS back -----------------------------------------------------------------------------------------

    def routes(self, api_id: str) -> dict[str, dict[str, Any]]:
        return {route["RouteKey"]: route for route in self.apigw.get_routes(ApiId=api_id)["Items"]}

    def integration_of(self, api_id: str, route: dict[str, Any]) -> dict[str, Any]:
        return self.apigw.get_integration(ApiId=api_id, IntegrationId=route["Target"].removeprefix("integrations/"))

    def integration_ids(self, api_id: str) -> set[str]:
        return {item["IntegrationId"] for item in self.apigw.get_integrations(ApiId=api_id)["Items"]}

    def create_function(self, name: str = "site") -> str:
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("handler.py", "def handle(event, context):\n    return {}\n")
        return self.lambda_.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handle",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]

    def policy_statements(self, function_arn: str) -> list[dict[str, Any]]:
        try:
            policy = self.lambda_.get_policy(FunctionName=function_arn)["Policy"]
        except self.lambda_.exceptions.ResourceNotFoundException:
            return []
        return json.loads(policy)["Statement"]

    def hosted_zone(self, name: str = "example.com") -> str:
        zone = self.route53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"]
        return zone.removeprefix("/hostedzone/")

    def records(self, zone_id: str, record_type: str = "A") -> list[dict[str, Any]]:
        records = self.route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        return [record for record in records if record["Type"] == record_type]


def fill_domain_target(domain: Any) -> None:
    """AWS answers a new regional domain name with its own target host and hosted zone; moto only echoes the input."""
    target = f"d-{hashlib.sha256(domain.domain_name.encode()).hexdigest()[:10]}.execute-api.{REGION}.amazonaws.com"
    for config in domain.domain_name_configurations:
        config.setdefault("apiGatewayDomainName", target)
        config.setdefault("hostedZoneId", API_GATEWAY_ZONE)
