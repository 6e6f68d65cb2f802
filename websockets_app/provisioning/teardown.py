"""Deleting what was created for a gateway, newest first."""

from __future__ import annotations

from websockets_app.provisioning.api import remove_lambda_permission
from websockets_app.provisioning.domain import alias_change
from websockets_app.provisioning.run import NOT_FOUND, Run


def delete_everything(run: Run) -> None:
    """Remove what was created, newest first, forgetting each id only once AWS confirms it is gone."""
    gateway, apigw = run.gateway, run.apigw
    if gateway.alias_record_zone_id:
        route53 = run.client("route53", "us-east-1")
        run.call_tolerating(
            frozenset({"InvalidChangeBatch"}),
            "delete Route 53 alias record",
            route53.change_resource_record_sets,
            HostedZoneId=gateway.alias_record_zone_id,
            ChangeBatch={"Changes": [alias_change("DELETE", gateway)]},
        )
        gateway.alias_record_zone_id = ""
        run.save("alias_record_zone_id")
        run.did(f"deleted the alias record of {gateway.domain_name}")
    if gateway.api_mapping_id:
        run.call_tolerating(
            NOT_FOUND,
            "delete API mapping",
            apigw.delete_api_mapping,
            ApiMappingId=gateway.api_mapping_id,
            DomainName=gateway.domain_name,
        )
        gateway.api_mapping_id = ""
        run.save("api_mapping_id")
        run.did("deleted the API mapping")
    if gateway.api_gateway_domain_name:
        run.call_tolerating(NOT_FOUND, "delete domain name", apigw.delete_domain_name, DomainName=gateway.domain_name)
        gateway.api_gateway_domain_name = gateway.api_gateway_hosted_zone_id = ""
        gateway.custom_domain_created = False
        run.save("api_gateway_domain_name", "api_gateway_hosted_zone_id", "custom_domain_created")
        run.did(f"deleted domain name {gateway.domain_name}")
    if gateway.lambda_permission_function_arn:
        remove_lambda_permission(run)
    if gateway.api_id:
        # Deleting the API deletes its routes, integrations, stages and deployments with it.
        run.call_tolerating(NOT_FOUND, "delete API", apigw.delete_api, ApiId=gateway.api_id)
        run.did(f"deleted API {gateway.api_id}")
    gateway.additional_routes.update(integration_id="", route_id="", deployed=False)
    gateway.api_id = gateway.api_endpoint = gateway.deployment_id = ""
    gateway.builtin_route_ids = {}
    gateway.stage_created = gateway.api_created = False
    run.save("api_id", "api_endpoint", "deployment_id", "builtin_route_ids", "stage_created", "api_created")
