"""The IAM policies in infra/iam/: valid documents, no wildcard actions, and every AWS call the code makes allowed."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parent.parent
IAM = ROOT / "infra" / "iam"
PLACEHOLDERS = {
    "${Region}",
    "${AccountId}",
    "${FunctionName}",
    "${HostedZoneId}",
    "${DomainName}",
    "${ApiId}",
    "${Stage}",
}

# Each boto3 call websockets_app.provisioning makes, and the IAM action and resource that authorise it.
PROVISIONING_CALLS = {
    "create_api": ("apigateway:POST", "/apis"),
    "update_api": ("apigateway:PATCH", "/apis/??????????"),
    "delete_api": ("apigateway:DELETE", "/apis/??????????"),
    "create_integration": ("apigateway:POST", "/apis/*/integrations"),
    "get_integration": ("apigateway:GET", "/apis/*/integrations/*"),
    "update_integration": ("apigateway:PATCH", "/apis/*/integrations/*"),
    "delete_integration": ("apigateway:DELETE", "/apis/*/integrations/*"),
    "get_integrations": ("apigateway:GET", "/apis/*/integrations"),
    "create_route": ("apigateway:POST", "/apis/*/routes"),
    "update_route": ("apigateway:PATCH", "/apis/*/routes/*"),
    "delete_route": ("apigateway:DELETE", "/apis/*/routes/*"),
    "get_routes": ("apigateway:GET", "/apis/*/routes"),
    "create_route_response": ("apigateway:POST", "/apis/*/routes/*/routeresponses"),
    "get_route_response": ("apigateway:GET", "/apis/*/routes/*/routeresponses/*"),
    "get_route_responses": ("apigateway:GET", "/apis/*/routes/*/routeresponses"),
    "create_stage": ("apigateway:POST", "/apis/*/stages"),
    "update_stage": ("apigateway:PATCH", "/apis/*/stages/*"),
    "create_deployment": ("apigateway:POST", "/apis/*/deployments"),
    "get_tags": ("apigateway:GET", "/tags/*"),
    "tag_resource": ("apigateway:POST", "/tags/*"),
    "untag_resource": ("apigateway:DELETE", "/tags/*"),
    "create_domain_name": ("apigateway:POST", "/domainnames"),
    "delete_domain_name": ("apigateway:DELETE", "/domainnames/*"),
    "create_api_mapping": ("apigateway:POST", "/domainnames/*/apimappings"),
    "delete_api_mapping": ("apigateway:DELETE", "/domainnames/*/apimappings/*"),
    "add_permission": ("lambda:AddPermission", "function:${FunctionName}"),
    "remove_permission": ("lambda:RemovePermission", "function:${FunctionName}"),
    "change_resource_record_sets": ("route53:ChangeResourceRecordSets", "hostedzone/${HostedZoneId}"),
}


def load(name: str) -> dict:
    return json.loads((IAM / name).read_text())


def grants(policy: dict) -> set[tuple[str, str]]:
    return {
        (action, resource)
        for statement in policy["Statement"]
        for action in statement["Action"]
        for resource in statement["Resource"]
    }


@pytest.mark.parametrize("name", ["provisioning-policy.json", "send-messages-policy.json"])
def test_policies_are_valid_allow_only_documents_without_wildcard_actions(name):
    policy = load(name)
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Action"]
        assert all(isinstance(action, str) and "*" not in action for action in statement["Action"])
        assert statement["Resource"]
        assert "*" not in statement["Resource"]
    text = (IAM / name).read_text()
    assert set(re.findall(r"\$\{\w+\}", text)) <= PLACEHOLDERS


def operations_named_in(package: Path) -> set[str]:
    """The boto3 operations of the provisioning services that the package's modules name (attributes or strings)."""
    operations: set[str] = set()
    for service in ("apigatewayv2", "lambda", "route53"):
        client = boto3.client(service, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
        operations |= set(client.meta.method_to_api_mapping)
    names = set()
    nodes = [node for path in sorted(package.glob("*.py")) for node in ast.walk(ast.parse(path.read_text()))]
    for node in nodes:
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
    return names & operations


def test_every_call_the_provisioning_code_makes_is_allowed():
    called = operations_named_in(ROOT / "websockets_app" / "provisioning")
    assert {"create_api", "create_deployment", "add_permission", "change_resource_record_sets"} <= called
    assert called <= set(PROVISIONING_CALLS), f"calls missing from this list: {called - set(PROVISIONING_CALLS)}"
    allowed = grants(load("provisioning-policy.json"))
    for operation in sorted(called):
        action, resource = PROVISIONING_CALLS[operation]
        assert any(a == action and r.endswith(resource) for a, r in allowed), operation


def test_apigateway_resources_are_scoped_to_the_region():
    for _action, resource in grants(load("provisioning-policy.json")):
        if resource.startswith("arn:aws:apigateway:"):
            assert resource.startswith("arn:aws:apigateway:${Region}::/")


def test_sending_covers_post_info_and_close_on_connections_of_the_named_api_only():
    # POST = send_message, GET = messaging.info, DELETE = messaging.close.
    assert grants(load("send-messages-policy.json")) == {
        (
            "execute-api:ManageConnections",
            f"arn:aws:execute-api:${{Region}}:${{AccountId}}:${{ApiId}}/${{Stage}}/{method}/@connections/*",
        )
        for method in ("POST", "GET", "DELETE")
    }


def test_the_docs_explain_every_placeholder():
    provisioning = (ROOT / "docs" / "provisioning.md").read_text()
    for placeholder in PLACEHOLDERS:
        assert f"`{placeholder}`" in provisioning
