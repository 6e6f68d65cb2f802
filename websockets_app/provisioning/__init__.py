"""Creating, updating and deleting the AWS resources behind an ``ApiGateway`` row (admin actions and commands).

Only the admin and the management commands call this module; the request path never does, and boto3 is imported
only when a call is made. Every public function either completes, returning the steps it took, or raises
``ProvisioningError`` with a message that names the failed step and the AWS error code and is safe to show an
operator (the integration secret never appears in it).

Runs are resumable: each resource id is written to the row the moment AWS returns it, a failure records its
reason in ``provisioning_error`` and leaves the "created" flags unset, and running the same function again picks
up where the last run stopped. Updates re-send the row's settings to the existing resources, so they are
idempotent too. The API is owned by its row: an update removes routes and integrations the row does not know.

The work is split by resource: ``run`` (clients, calls, errors), ``api`` (the API, its stage and deployments),
``routes``, ``domain`` and ``teardown``; this module holds the public functions and their preconditions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from websockets_app.models import ApiGatewayAdditionalRoute, IntegrationType
from websockets_app.provisioning.api import deploy, sync_everything
from websockets_app.provisioning.domain import build_custom_domain
from websockets_app.provisioning.routes import additional_slot, check_https_targets, sync_route
from websockets_app.provisioning.run import NOT_FOUND, ProvisioningError, Run, make_client, run_steps
from websockets_app.provisioning.teardown import delete_everything

if TYPE_CHECKING:
    from websockets_app.models import ApiGateway

__all__ = [
    "ProvisioningError",
    "create_api_gateway",
    "create_custom_domain",
    "delete_api_gateway",
    "delete_route",
    "deploy_route",
    "make_client",
    "update_api_gateway",
]


def check_managed_here(gateway: ApiGateway) -> None:
    if gateway.self_registered:
        # The row only mirrors an API that a SAM/CloudFormation stack owns; changing it from here would fight
        # the stack (and delete would remove resources the stack still lists).
        raise ProvisioningError(
            f"API Gateway {gateway.api_name!r} registered itself from its Lambda events: its AWS resources are "
            "managed outside Django (e.g. by the SAM stack), so they are not changed from here."
        )


def check_integration_inputs(gateway: ApiGateway) -> None:
    if gateway.integration_type == IntegrationType.AWS_PROXY:
        if not gateway.lambda_function_arn:
            raise ProvisioningError(f"API Gateway {gateway.api_name!r} needs a Lambda function ARN first.")
    elif not gateway.target_base_endpoint:
        raise ProvisioningError(f"API Gateway {gateway.api_name!r} needs a target base endpoint first.")


def check_created(gateway: ApiGateway) -> None:
    if not gateway.api_created:
        raise ProvisioningError(f"Create API Gateway {gateway.api_name!r} first.")


def create_api_gateway(gateway: ApiGateway) -> list[str]:
    """Create the WebSocket API, its integrations, routes, stage and deployment, or finish a failed creation."""
    check_managed_here(gateway)
    if gateway.api_created:
        raise ProvisioningError(
            f"API Gateway {gateway.api_name!r} has already been created; use Update API Gateway to apply changes."
        )
    check_integration_inputs(gateway)
    return run_steps(gateway, "Create API Gateway", sync_everything)


def update_api_gateway(gateway: ApiGateway) -> list[str]:
    """Send the row's current settings to the existing API: integrations, routes, stage, tags; then redeploy."""
    check_managed_here(gateway)
    check_created(gateway)
    check_integration_inputs(gateway)
    return run_steps(gateway, "Update API Gateway", sync_everything)


def create_custom_domain(gateway: ApiGateway) -> list[str]:
    """Create the custom domain, map it to the stage and, given a hosted zone, write its alias record."""
    check_managed_here(gateway)
    if not gateway.api_created:
        raise ProvisioningError(f"Create API Gateway {gateway.api_name!r} before its custom domain.")
    if gateway.custom_domain_created:
        raise ProvisioningError(f"The custom domain of {gateway.api_name!r} has already been created.")
    if not gateway.domain_name or not gateway.certificate_arn:
        raise ProvisioningError(f"API Gateway {gateway.api_name!r} needs a domain name and a certificate ARN.")
    return run_steps(gateway, "Create Custom Domain", build_custom_domain)


def delete_api_gateway(gateway: ApiGateway) -> list[str]:
    """Delete everything created for ``gateway`` in AWS; the row stays, ready to be created again."""
    check_managed_here(gateway)
    nothing_created = not (
        gateway.api_id
        or gateway.api_gateway_domain_name
        or gateway.api_mapping_id
        or gateway.alias_record_zone_id
        or gateway.lambda_permission_function_arn
    )
    if nothing_created:
        raise ProvisioningError(f"Nothing has been created in AWS for API Gateway {gateway.api_name!r}.")
    return run_steps(gateway, "Delete API Gateway", delete_everything)


def deploy_route(route: ApiGatewayAdditionalRoute) -> list[str]:
    """Create or update one additional route of a created API and redeploy the stage."""
    gateway = route.api_gateway
    check_managed_here(gateway)
    check_created(gateway)
    check_integration_inputs(gateway)

    def body(run: Run) -> None:
        check_https_targets(gateway, [route])
        sync_route(run, additional_slot(run, route))
        deploy(run)
        route.deployed = True
        route.save(update_fields=["deployed", "updated_on"])

    return run_steps(gateway, f"Deploy route {route.route_key!r}", body)


def delete_route(route: ApiGatewayAdditionalRoute) -> list[str]:
    """Delete one additional route (and its integration) from AWS and redeploy; the row, if any, is left alone."""
    gateway = route.api_gateway
    check_managed_here(gateway)

    def body(run: Run) -> None:
        apigw, key = run.apigw, route.route_key
        if route.route_id:
            run.call_tolerating(
                NOT_FOUND, f"delete route ({key})", apigw.delete_route, ApiId=gateway.api_id, RouteId=route.route_id
            )
            run.did(f"deleted the {key} route")
        if route.integration_id:
            run.call_tolerating(
                NOT_FOUND,
                f"delete integration ({key})",
                apigw.delete_integration,
                ApiId=gateway.api_id,
                IntegrationId=route.integration_id,
            )
            run.did(f"deleted the {key} integration")
        route.integration_id = route.route_id = route.route_response_id = ""
        route.deployed = False
        # The row may be gone already (the admin deletes it first); then there is nothing to record.
        ApiGatewayAdditionalRoute.objects.filter(pk=route.pk).update(
            integration_id="", route_id="", route_response_id="", deployed=False
        )
        if gateway.stage_created:
            deploy(run)

    if not (route.route_id or route.integration_id):
        return []
    return run_steps(gateway, f"Delete route {route.route_key!r}", body)
