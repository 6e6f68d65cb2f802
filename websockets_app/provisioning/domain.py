"""The custom domain: a regional domain name (TLS 1.2), its API mapping and, with a hosted zone, the alias record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from websockets_app.provisioning.run import Run

if TYPE_CHECKING:
    from websockets_app.models import ApiGateway


def alias_change(action: str, gateway: ApiGateway) -> dict[str, Any]:
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": gateway.domain_name,
            "Type": "A",
            "AliasTarget": {
                "HostedZoneId": gateway.api_gateway_hosted_zone_id,
                "DNSName": gateway.api_gateway_domain_name,
                "EvaluateTargetHealth": False,
            },
        },
    }


def upsert_alias_record(run: Run) -> None:
    gateway = run.gateway
    route53 = run.client("route53", "us-east-1")  # a global service
    run.call(
        "write Route 53 alias record",
        route53.change_resource_record_sets,
        HostedZoneId=gateway.hosted_zone_id,
        ChangeBatch={"Changes": [alias_change("UPSERT", gateway)]},
    )
    gateway.alias_record_zone_id = gateway.hosted_zone_id
    run.save("alias_record_zone_id")
    run.did(f"pointed {gateway.domain_name} at {gateway.api_gateway_domain_name}")


def build_custom_domain(run: Run) -> None:
    gateway, apigw = run.gateway, run.apigw
    if not gateway.api_gateway_domain_name:
        domain = run.call(
            "create domain name",
            apigw.create_domain_name,
            DomainName=gateway.domain_name,
            DomainNameConfigurations=[
                {"CertificateArn": gateway.certificate_arn, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}
            ],
            Tags=gateway.tags,
        )
        [config] = domain["DomainNameConfigurations"]
        gateway.api_gateway_domain_name = config.get("ApiGatewayDomainName", "")
        gateway.api_gateway_hosted_zone_id = config.get("HostedZoneId", "")
        run.save("api_gateway_domain_name", "api_gateway_hosted_zone_id")
        run.did(f"created domain name {gateway.domain_name}")
    if not gateway.api_mapping_id:
        mapping = run.call(
            "create API mapping",
            apigw.create_api_mapping,
            DomainName=gateway.domain_name,
            ApiId=gateway.api_id,
            Stage=gateway.stage_name,
        )
        gateway.api_mapping_id = mapping["ApiMappingId"]
        run.save("api_mapping_id")
        run.did(f"mapped {gateway.domain_name} to stage {gateway.stage_name}")
    if gateway.hosted_zone_id:
        upsert_alias_record(run)
    gateway.custom_domain_created = True
    run.save("custom_domain_created")
