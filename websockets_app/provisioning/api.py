"""The API itself: its settings and tags, the Lambda permission, the stage, deployments, and a full sync."""

from __future__ import annotations

from typing import TYPE_CHECKING

from websockets_app.limits import BUILTIN_ROUTE_KEYS
from websockets_app.models import ApiGatewayAdditionalRoute, IntegrationType
from websockets_app.provisioning.routes import additional_slot, builtin_slot, check_https_targets, prune, sync_route
from websockets_app.provisioning.run import ALREADY_EXISTS, NOT_FOUND, Run
from websockets_app.validators import lambda_arn_account, lambda_arn_region

if TYPE_CHECKING:
    from websockets_app.models import ApiGateway


def api_arn(run: Run) -> str:
    return f"arn:aws:apigateway:{run.region}::/apis/{run.gateway.api_id}"


def stage_arn(run: Run) -> str:
    return f"{api_arn(run)}/stages/{run.gateway.stage_name}"


def statement_id(gateway: ApiGateway) -> str:
    return f"apigateway-websocket-{gateway.api_id}"


def sync_api(run: Run) -> None:
    gateway, apigw = run.gateway, run.apigw
    settings = {
        "Name": gateway.api_name,
        "Description": gateway.api_description,
        "RouteSelectionExpression": gateway.route_selection_expression,
        "ApiKeySelectionExpression": gateway.api_key_selection_expression,
    }
    if not gateway.api_id:
        api = run.call("create API", apigw.create_api, ProtocolType="WEBSOCKET", Tags=gateway.tags, **settings)
        gateway.api_id, gateway.api_endpoint = api["ApiId"], api.get("ApiEndpoint", "")
        run.save("api_id", "api_endpoint")
        run.did(f"created API {gateway.api_id}")
        return
    api = run.call("update API", apigw.update_api, ApiId=gateway.api_id, **settings)
    gateway.api_endpoint = api.get("ApiEndpoint", gateway.api_endpoint)
    run.save("api_endpoint")
    sync_tags(run, "API", api_arn(run))
    run.did(f"updated API {gateway.api_id}")


def sync_tags(run: Run, what: str, arn: str) -> None:
    """Make the resource's tags equal the row's: add or change what differs, remove keys the row dropped."""
    apigw, wanted = run.apigw, run.gateway.tags
    current = run.call(f"read {what} tags", apigw.get_tags, ResourceArn=arn).get("Tags", {})
    dropped = [key for key in current if key not in wanted and not key.startswith("aws:")]
    if dropped:
        run.call(f"untag {what}", apigw.untag_resource, ResourceArn=arn, TagKeys=dropped)
    if any(current.get(key) != value for key, value in wanted.items()):
        run.call(f"tag {what}", apigw.tag_resource, ResourceArn=arn, Tags=wanted)


def remove_lambda_permission(run: Run) -> None:
    """Withdraw the API's permission to invoke the function it was granted, and forget it once AWS confirms."""
    gateway = run.gateway
    granted = gateway.lambda_permission_function_arn
    run.call_tolerating(
        NOT_FOUND,
        "remove Lambda permission",
        run.client("lambda", lambda_arn_region(granted)).remove_permission,
        FunctionName=granted,
        StatementId=statement_id(gateway),
    )
    gateway.lambda_permission_function_arn = ""
    run.save("lambda_permission_function_arn")
    run.did(f"removed the permission to invoke {granted}")


def sync_lambda_permission(run: Run) -> None:
    """Let the API invoke exactly the row's function (AWS_PROXY), and no function it used before."""
    gateway = run.gateway
    wanted = gateway.lambda_function_arn if gateway.integration_type == IntegrationType.AWS_PROXY else ""
    granted = gateway.lambda_permission_function_arn
    if granted and granted != wanted:
        remove_lambda_permission(run)
    if wanted and wanted != granted:
        lambda_client = run.client("lambda", lambda_arn_region(wanted))
        partition, account = wanted.split(":")[1], lambda_arn_account(wanted)
        # Already granted by an earlier run that stopped before recording it: nothing to do.
        run.call_tolerating(
            ALREADY_EXISTS,
            "add Lambda permission",
            lambda_client.add_permission,
            FunctionName=wanted,
            StatementId=statement_id(gateway),
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:{partition}:execute-api:{run.region}:{account}:{gateway.api_id}/*",
        )
        gateway.lambda_permission_function_arn = wanted
        run.save("lambda_permission_function_arn")
        run.did(f"allowed the API to invoke {wanted}")


def sync_stage(run: Run) -> None:
    gateway, apigw = run.gateway, run.apigw
    if not gateway.stage_created:
        created = run.call_tolerating(
            ALREADY_EXISTS,
            "create stage",
            apigw.create_stage,
            ApiId=gateway.api_id,
            StageName=gateway.stage_name,
            Description=gateway.stage_description,
            Tags=gateway.tags,
        )
        gateway.stage_created = True
        run.save("stage_created")
        if created is not None:
            run.did(f"created stage {gateway.stage_name}")
            return
    run.call(
        "update stage",
        apigw.update_stage,
        ApiId=gateway.api_id,
        StageName=gateway.stage_name,
        Description=gateway.stage_description,
    )
    sync_tags(run, "stage", stage_arn(run))
    run.did(f"updated stage {gateway.stage_name}")


def deploy(run: Run) -> None:
    """Publish the API's current routes to the stage; nothing a run changed is live before this."""
    gateway = run.gateway
    deployment = run.call(
        "create deployment", run.apigw.create_deployment, ApiId=gateway.api_id, StageName=gateway.stage_name
    )
    gateway.deployment_id = deployment["DeploymentId"]
    run.save("deployment_id")
    run.did(f"deployed {gateway.deployment_id} to stage {gateway.stage_name}")


def sync_everything(run: Run) -> None:
    gateway = run.gateway
    routes = list(gateway.additional_routes.all())
    check_https_targets(gateway, routes)
    sync_api(run)
    sync_lambda_permission(run)
    slots = [builtin_slot(run, key) for key in BUILTIN_ROUTE_KEYS]
    slots += [additional_slot(run, route) for route in routes]
    for slot in slots:
        sync_route(run, slot)
    prune(run, {slot.ids["route"] for slot in slots}, {slot.ids["integration"] for slot in slots})
    sync_stage(run)
    deploy(run)
    ApiGatewayAdditionalRoute.objects.filter(pk__in=[route.pk for route in routes]).update(deployed=True)
    gateway.api_created = True
    run.save("api_created")
