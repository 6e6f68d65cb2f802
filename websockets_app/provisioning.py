"""Creating, updating and deleting the AWS resources behind an ``ApiGateway`` row (admin actions and commands).

Only the admin and the management commands call this module; the request path never does, and boto3 is imported
only when a call is made. Every public function either completes, returning the steps it took, or raises
``ProvisioningError`` with a message that names the failed step and the AWS error code and is safe to show an
operator (the integration secret never appears in it).

Runs are resumable: each resource id is written to the row the moment AWS returns it, a failure records its
reason in ``provisioning_error`` and leaves the "created" flags unset, and running the same function again picks
up where the last run stopped. Updates re-send the row's settings to the existing resources, so they are
idempotent too. The API is owned by its row: an update removes routes and integrations the row does not know.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from websockets_app.gateway import integration_request_parameters
from websockets_app.models import BUILTIN_ROUTE_KEYS, ApiGatewayAdditionalRoute, IntegrationType
from websockets_app.validators import lambda_arn_account, lambda_arn_region

if TYPE_CHECKING:
    from websockets_app.models import ApiGateway


class ProvisioningError(Exception):
    """A provisioning step could not run or failed; ``str()`` is fit for an admin message."""


def make_client(service: str, region: str) -> Any:
    """A boto3 client; the one seam between this module and AWS (tests replace it)."""
    import boto3

    return boto3.client(service, region_name=region)


# Error codes that mean "the thing to delete or update is not there" for each service.
_NOT_FOUND = frozenset({"NotFoundException", "ResourceNotFoundException"})
_ALREADY_EXISTS = frozenset({"ConflictException", "ResourceConflictException"})
_MAX_AWS_MESSAGE = 200


class _AwsError(ProvisioningError):
    """A failed AWS call; ``code`` is AWS's error code (or the botocore exception name)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class _Run:
    """One provisioning run on one gateway: its clients, its AWS calls, and the record of what it did."""

    def __init__(self, gateway: ApiGateway) -> None:
        self.gateway = gateway
        self.region = gateway.effective_region
        if not self.region:
            raise ProvisioningError(f"No AWS region is known for API Gateway {gateway.api_name!r}.")
        self.steps: list[str] = []
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = make_client(*key)
        return self._clients[key]

    @property
    def apigw(self) -> Any:
        return self.client("apigatewayv2")

    def call(self, step: str, method: Callable[..., Any], **params: Any) -> Any:
        """Make one AWS call; a failure becomes a ProvisioningError naming ``step`` and the AWS error code."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code") or "ClientError"
            detail = self._scrub(str(error.get("Message") or ""))
            raise _AwsError(f"{step} failed: {code}" + (f" ({detail})" if detail else ""), code) from None
        except BotoCoreError as exc:
            # No credentials, no connection, a parameter botocore refused: no AWS code, the class name says it.
            code = type(exc).__name__
            raise _AwsError(f"{step} failed: {code} ({self._scrub(str(exc))})", code) from None

    def call_tolerating(self, codes: frozenset[str], step: str, method: Callable[..., Any], **params: Any) -> Any:
        """Like ``call``, but an error whose code is in ``codes`` returns None (e.g. deleting what is gone)."""
        try:
            return self.call(step, method, **params)
        except _AwsError as exc:
            if exc.code in codes:
                return None
            raise

    def _scrub(self, text: str) -> str:
        # AWS and botocore sometimes echo request values; the integration secret is one of them.
        secret = self.gateway.integration_secret
        if secret:
            text = text.replace(secret, "[secret]")
        return text[:_MAX_AWS_MESSAGE]

    def save(self, *fields: str) -> None:
        self.gateway.save(update_fields=[*fields, "updated_on"])

    def did(self, step: str) -> None:
        self.steps.append(step)


def _check_managed_here(gateway: ApiGateway) -> None:
    if gateway.self_registered:
        # The row only mirrors an API that a SAM/CloudFormation stack owns; changing it from here would fight
        # the stack (and delete would remove resources the stack still lists).
        raise ProvisioningError(
            f"API Gateway {gateway.api_name!r} registered itself from its Lambda events: its AWS resources are "
            "managed outside Django (e.g. by the SAM stack), so they are not changed from here."
        )


def _run(gateway: ApiGateway, what: str, body: Callable[[_Run], None]) -> list[str]:
    """Run ``body``; on failure record why on the row (everything done so far is already recorded) and re-raise."""
    run = _Run(gateway)
    try:
        body(run)
    except ProvisioningError as exc:
        gateway.provisioning_error = f"{what}: {exc}"
        run.save("provisioning_error")
        raise
    if gateway.provisioning_error:
        gateway.provisioning_error = ""
        run.save("provisioning_error")
    return run.steps


# --- ARNs and the shapes AWS wants -----------------------------------------------------------------------------


def _api_arn(run: _Run) -> str:
    return f"arn:aws:apigateway:{run.region}::/apis/{run.gateway.api_id}"


def _stage_arn(run: _Run) -> str:
    return f"{_api_arn(run)}/stages/{run.gateway.stage_name}"


def _statement_id(gateway: ApiGateway) -> str:
    return f"apigateway-websocket-{gateway.api_id}"


def _integration(gateway: ApiGateway, http_target: Callable[[], str]) -> dict[str, Any]:
    """The integration settings a route of ``gateway`` should have right now."""
    if gateway.integration_type == IntegrationType.AWS_PROXY:
        return {
            "IntegrationType": "AWS_PROXY",
            "IntegrationMethod": "POST",
            "IntegrationUri": gateway.lambda_integration_uri,
        }
    return {
        "IntegrationType": "HTTP_PROXY",
        "IntegrationMethod": "POST",
        "IntegrationUri": http_target(),
        "RequestParameters": integration_request_parameters(gateway),
    }


def _alias_change(action: str, gateway: ApiGateway) -> dict[str, Any]:
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


# --- preconditions (bad input changes nothing) -------------------------------------------------------------------


def _check_integration_inputs(gateway: ApiGateway) -> None:
    if gateway.integration_type == IntegrationType.AWS_PROXY:
        if not gateway.lambda_function_arn:
            raise ProvisioningError(f"API Gateway {gateway.api_name!r} needs a Lambda function ARN first.")
    elif not gateway.target_base_endpoint:
        raise ProvisioningError(f"API Gateway {gateway.api_name!r} needs a target base endpoint first.")


def _check_created(gateway: ApiGateway) -> None:
    if not gateway.api_created:
        raise ProvisioningError(f"Create API Gateway {gateway.api_name!r} first.")


# --- the pieces of an API ---------------------------------------------------------------------------------------


def _sync_api(run: _Run) -> None:
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
    _sync_tags(run, "API", _api_arn(run))
    run.did(f"updated API {gateway.api_id}")


def _sync_tags(run: _Run, what: str, arn: str) -> None:
    """Make the resource's tags equal the row's: add or change what differs, remove keys the row dropped."""
    apigw, wanted = run.apigw, run.gateway.tags
    current = run.call(f"read {what} tags", apigw.get_tags, ResourceArn=arn).get("Tags", {})
    dropped = [key for key in current if key not in wanted and not key.startswith("aws:")]
    if dropped:
        run.call(f"untag {what}", apigw.untag_resource, ResourceArn=arn, TagKeys=dropped)
    if any(current.get(key) != value for key, value in wanted.items()):
        run.call(f"tag {what}", apigw.tag_resource, ResourceArn=arn, Tags=wanted)


def _sync_lambda_permission(run: _Run) -> None:
    """Let the API invoke exactly the row's function (AWS_PROXY), and no function it used before."""
    gateway = run.gateway
    wanted = gateway.lambda_function_arn if gateway.integration_type == IntegrationType.AWS_PROXY else ""
    granted = gateway.lambda_permission_function_arn
    if granted and granted != wanted:
        lambda_client = run.client("lambda", lambda_arn_region(granted))
        run.call_tolerating(
            _NOT_FOUND,
            "remove Lambda permission",
            lambda_client.remove_permission,
            FunctionName=granted,
            StatementId=_statement_id(gateway),
        )
        gateway.lambda_permission_function_arn = ""
        run.save("lambda_permission_function_arn")
        run.did(f"removed the permission to invoke {granted}")
    if wanted and wanted != granted:
        lambda_client = run.client("lambda", lambda_arn_region(wanted))
        partition, account = wanted.split(":")[1], lambda_arn_account(wanted)
        # Already granted by an earlier run that stopped before recording it: nothing to do.
        run.call_tolerating(
            _ALREADY_EXISTS,
            "add Lambda permission",
            lambda_client.add_permission,
            FunctionName=wanted,
            StatementId=_statement_id(gateway),
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:{partition}:execute-api:{run.region}:{account}:{gateway.api_id}/*",
        )
        gateway.lambda_permission_function_arn = wanted
        run.save("lambda_permission_function_arn")
        run.did(f"allowed the API to invoke {wanted}")


class _RouteSlot:
    """Where one route's integration and route ids are kept: the gateway's JSON for built-ins, else the row."""

    def __init__(
        self,
        route_key: str,
        ids: dict[str, str],
        store: Callable[[dict[str, str]], None],
        http_target: Callable[[], str],
    ) -> None:
        self.route_key = route_key
        self.ids = ids
        self._store = store
        self.http_target = http_target

    def set(self, **ids: str) -> None:
        self.ids = {**self.ids, **ids}
        self._store(self.ids)


def _builtin_slot(run: _Run, route_key: str) -> _RouteSlot:
    gateway = run.gateway

    def store(ids: dict[str, str]) -> None:
        gateway.builtin_route_ids = {**gateway.builtin_route_ids, route_key: ids}
        run.save("builtin_route_ids")

    return _RouteSlot(
        route_key, dict(gateway.builtin_route_ids.get(route_key, {})), store, lambda: gateway.integration_uri(route_key)
    )


def _additional_slot(run: _Run, route: ApiGatewayAdditionalRoute) -> _RouteSlot:
    def store(ids: dict[str, str]) -> None:
        route.integration_id, route.route_id = ids.get("integration", ""), ids.get("route", "")
        route.save(update_fields=["integration_id", "route_id", "updated_on"])

    route.api_gateway = run.gateway  # one copy of the gateway for the whole run
    ids = {"integration": route.integration_id, "route": route.route_id}
    return _RouteSlot(route.route_key, ids, store, route.target_url)


def _sync_route(run: _Run, slot: _RouteSlot) -> None:
    """Create or update one route and its integration, replacing the integration when its type changes."""
    gateway, apigw, key = run.gateway, run.apigw, slot.route_key
    wanted = _integration(gateway, slot.http_target)
    integration_id, replaced = slot.ids.get("integration", ""), ""
    if integration_id:
        current = run.call_tolerating(
            _NOT_FOUND,
            f"read integration ({key})",
            apigw.get_integration,
            ApiId=gateway.api_id,
            IntegrationId=integration_id,
        )
        if current is None:
            integration_id = ""  # deleted outside Django: create it again
        elif current.get("IntegrationType") != wanted["IntegrationType"]:
            integration_id, replaced = "", integration_id  # a new type is a new integration
        else:
            run.call(
                f"update integration ({key})",
                apigw.update_integration,
                ApiId=gateway.api_id,
                IntegrationId=integration_id,
                **wanted,
            )
            run.did(f"updated the {key} integration")
    if not integration_id:
        created = run.call(f"create integration ({key})", apigw.create_integration, ApiId=gateway.api_id, **wanted)
        integration_id = created["IntegrationId"]
        slot.set(integration=integration_id)
        run.did(f"created the {key} integration")

    target = f"integrations/{integration_id}"
    route_id = slot.ids.get("route", "")
    if route_id:
        updated = run.call_tolerating(
            _NOT_FOUND,
            f"update route ({key})",
            apigw.update_route,
            ApiId=gateway.api_id,
            RouteId=route_id,
            RouteKey=key,
            Target=target,
        )
        if updated is None:
            route_id = ""
        else:
            run.did(f"updated the {key} route")
    if not route_id:
        created = run.call_tolerating(
            _ALREADY_EXISTS,
            f"create route ({key})",
            apigw.create_route,
            ApiId=gateway.api_id,
            RouteKey=key,
            Target=target,
        )
        if created is None:
            # The route exists but its id was never recorded (a run stopped in between): adopt and retarget it.
            route_id = _find_route_id(run, key)
            run.call(
                f"update route ({key})",
                apigw.update_route,
                ApiId=gateway.api_id,
                RouteId=route_id,
                RouteKey=key,
                Target=target,
            )
        else:
            route_id = created["RouteId"]
        slot.set(route=route_id)
        run.did(f"created the {key} route")

    if replaced:
        run.call_tolerating(
            _NOT_FOUND,
            f"delete old integration ({key})",
            apigw.delete_integration,
            ApiId=gateway.api_id,
            IntegrationId=replaced,
        )
        run.did(f"replaced the {key} integration")


def _find_route_id(run: _Run, route_key: str) -> str:
    for route in _all_items(run, "get_routes"):
        if route.get("RouteKey") == route_key:
            return route["RouteId"]
    raise ProvisioningError(f"create route ({route_key}) failed: AWS reported a conflict but has no such route")


def _all_items(run: _Run, operation: str) -> Iterable[dict[str, Any]]:
    paginator = run.apigw.get_paginator(operation)
    pages = run.call(
        f"list {operation.removeprefix('get_')}", lambda: list(paginator.paginate(ApiId=run.gateway.api_id))
    )
    for page in pages:
        yield from page.get("Items", [])


def _prune(run: _Run, keep_routes: set[str], keep_integrations: set[str]) -> None:
    """Delete routes, then integrations, that the row does not record (removed routes, interrupted replacements)."""
    apigw, api_id = run.apigw, run.gateway.api_id
    for route in list(_all_items(run, "get_routes")):
        if route["RouteId"] not in keep_routes:
            run.call_tolerating(
                _NOT_FOUND,
                f"delete route ({route.get('RouteKey')})",
                apigw.delete_route,
                ApiId=api_id,
                RouteId=route["RouteId"],
            )
            run.did(f"deleted the {route.get('RouteKey')} route, which no row describes")
    for integration in list(_all_items(run, "get_integrations")):
        if integration["IntegrationId"] not in keep_integrations:
            run.call_tolerating(
                _NOT_FOUND,
                "delete unused integration",
                apigw.delete_integration,
                ApiId=api_id,
                IntegrationId=integration["IntegrationId"],
            )
            run.did(f"deleted unused integration {integration['IntegrationId']}")


def _sync_stage(run: _Run) -> None:
    gateway, apigw = run.gateway, run.apigw
    if not gateway.stage_created:
        created = run.call_tolerating(
            _ALREADY_EXISTS,
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
    _sync_tags(run, "stage", _stage_arn(run))
    run.did(f"updated stage {gateway.stage_name}")


def _deploy(run: _Run) -> None:
    """Publish the API's current routes to the stage; nothing a run changed is live before this."""
    gateway = run.gateway
    deployment = run.call(
        "create deployment", run.apigw.create_deployment, ApiId=gateway.api_id, StageName=gateway.stage_name
    )
    gateway.deployment_id = deployment["DeploymentId"]
    run.save("deployment_id")
    run.did(f"deployed {gateway.deployment_id} to stage {gateway.stage_name}")


def _sync_everything(run: _Run) -> None:
    gateway = run.gateway
    _sync_api(run)
    _sync_lambda_permission(run)
    slots = [_builtin_slot(run, key) for key in BUILTIN_ROUTE_KEYS]
    routes = list(gateway.additional_routes.all())
    slots += [_additional_slot(run, route) for route in routes]
    for slot in slots:
        _sync_route(run, slot)
    _prune(run, {slot.ids["route"] for slot in slots}, {slot.ids["integration"] for slot in slots})
    _sync_stage(run)
    _deploy(run)
    ApiGatewayAdditionalRoute.objects.filter(pk__in=[route.pk for route in routes]).update(deployed=True)
    gateway.api_created = True
    run.save("api_created")


# --- custom domain --------------------------------------------------------------------------------------------


def _upsert_alias_record(run: _Run) -> None:
    gateway = run.gateway
    route53 = run.client("route53", "us-east-1")  # a global service
    run.call(
        "write Route 53 alias record",
        route53.change_resource_record_sets,
        HostedZoneId=gateway.hosted_zone_id,
        ChangeBatch={"Changes": [_alias_change("UPSERT", gateway)]},
    )
    gateway.alias_record_zone_id = gateway.hosted_zone_id
    run.save("alias_record_zone_id")
    run.did(f"pointed {gateway.domain_name} at {gateway.api_gateway_domain_name}")


def _build_custom_domain(run: _Run) -> None:
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
        _upsert_alias_record(run)
    gateway.custom_domain_created = True
    run.save("custom_domain_created")


# --- deleting -------------------------------------------------------------------------------------------------


def _delete_everything(run: _Run) -> None:
    """Remove what was created, newest first, forgetting each id only once AWS confirms it is gone."""
    gateway, apigw = run.gateway, run.apigw
    if gateway.alias_record_zone_id:
        route53 = run.client("route53", "us-east-1")
        run.call_tolerating(
            frozenset({"InvalidChangeBatch"}),
            "delete Route 53 alias record",
            route53.change_resource_record_sets,
            HostedZoneId=gateway.alias_record_zone_id,
            ChangeBatch={"Changes": [_alias_change("DELETE", gateway)]},
        )
        gateway.alias_record_zone_id = ""
        run.save("alias_record_zone_id")
        run.did(f"deleted the alias record of {gateway.domain_name}")
    if gateway.api_mapping_id:
        run.call_tolerating(
            _NOT_FOUND,
            "delete API mapping",
            apigw.delete_api_mapping,
            ApiMappingId=gateway.api_mapping_id,
            DomainName=gateway.domain_name,
        )
        gateway.api_mapping_id = ""
        run.save("api_mapping_id")
        run.did("deleted the API mapping")
    if gateway.api_gateway_domain_name:
        run.call_tolerating(_NOT_FOUND, "delete domain name", apigw.delete_domain_name, DomainName=gateway.domain_name)
        gateway.api_gateway_domain_name = gateway.api_gateway_hosted_zone_id = ""
        gateway.custom_domain_created = False
        run.save("api_gateway_domain_name", "api_gateway_hosted_zone_id", "custom_domain_created")
        run.did(f"deleted domain name {gateway.domain_name}")
    if gateway.lambda_permission_function_arn:
        granted = gateway.lambda_permission_function_arn
        run.call_tolerating(
            _NOT_FOUND,
            "remove Lambda permission",
            run.client("lambda", lambda_arn_region(granted)).remove_permission,
            FunctionName=granted,
            StatementId=_statement_id(gateway),
        )
        gateway.lambda_permission_function_arn = ""
        run.save("lambda_permission_function_arn")
        run.did(f"removed the permission to invoke {granted}")
    if gateway.api_id:
        # Deleting the API deletes its routes, integrations, stages and deployments with it.
        run.call_tolerating(_NOT_FOUND, "delete API", apigw.delete_api, ApiId=gateway.api_id)
        run.did(f"deleted API {gateway.api_id}")
    gateway.additional_routes.update(integration_id="", route_id="", deployed=False)
    gateway.api_id = gateway.api_endpoint = gateway.deployment_id = ""
    gateway.builtin_route_ids = {}
    gateway.stage_created = gateway.api_created = False
    run.save("api_id", "api_endpoint", "deployment_id", "builtin_route_ids", "stage_created", "api_created")


# --- public API -----------------------------------------------------------------------------------------------


def create_api_gateway(gateway: ApiGateway) -> list[str]:
    """Create the WebSocket API, its integrations, routes, stage and deployment, or finish a failed creation."""
    _check_managed_here(gateway)
    if gateway.api_created:
        raise ProvisioningError(
            f"API Gateway {gateway.api_name!r} has already been created; use Update API Gateway to apply changes."
        )
    _check_integration_inputs(gateway)
    return _run(gateway, "Create API Gateway", _sync_everything)


def update_api_gateway(gateway: ApiGateway) -> list[str]:
    """Send the row's current settings to the existing API: integrations, routes, stage, tags; then redeploy."""
    _check_managed_here(gateway)
    _check_created(gateway)
    _check_integration_inputs(gateway)
    return _run(gateway, "Update API Gateway", _sync_everything)


def create_custom_domain(gateway: ApiGateway) -> list[str]:
    """Create the custom domain, map it to the stage and, given a hosted zone, write its alias record."""
    _check_managed_here(gateway)
    if not gateway.api_created:
        raise ProvisioningError(f"Create API Gateway {gateway.api_name!r} before its custom domain.")
    if gateway.custom_domain_created:
        raise ProvisioningError(f"The custom domain of {gateway.api_name!r} has already been created.")
    if not gateway.domain_name or not gateway.certificate_arn:
        raise ProvisioningError(f"API Gateway {gateway.api_name!r} needs a domain name and a certificate ARN.")
    return _run(gateway, "Create Custom Domain", _build_custom_domain)


def delete_api_gateway(gateway: ApiGateway) -> list[str]:
    """Delete everything created for ``gateway`` in AWS; the row stays, ready to be created again."""
    _check_managed_here(gateway)
    nothing_created = not (
        gateway.api_id
        or gateway.api_gateway_domain_name
        or gateway.api_mapping_id
        or gateway.alias_record_zone_id
        or gateway.lambda_permission_function_arn
    )
    if nothing_created:
        raise ProvisioningError(f"Nothing has been created in AWS for API Gateway {gateway.api_name!r}.")
    return _run(gateway, "Delete API Gateway", _delete_everything)


def deploy_route(route: ApiGatewayAdditionalRoute) -> list[str]:
    """Create or update one additional route of a created API and redeploy the stage."""
    gateway = route.api_gateway
    _check_managed_here(gateway)
    _check_created(gateway)
    _check_integration_inputs(gateway)

    def body(run: _Run) -> None:
        _sync_route(run, _additional_slot(run, route))
        _deploy(run)
        route.deployed = True
        route.save(update_fields=["deployed", "updated_on"])

    return _run(gateway, f"Deploy route {route.route_key!r}", body)


def delete_route(route: ApiGatewayAdditionalRoute) -> list[str]:
    """Delete one additional route (and its integration) from AWS and redeploy; the row, if any, is left alone."""
    gateway = route.api_gateway
    _check_managed_here(gateway)

    def body(run: _Run) -> None:
        apigw, key = run.apigw, route.route_key
        if route.route_id:
            run.call_tolerating(
                _NOT_FOUND, f"delete route ({key})", apigw.delete_route, ApiId=gateway.api_id, RouteId=route.route_id
            )
            run.did(f"deleted the {key} route")
        if route.integration_id:
            run.call_tolerating(
                _NOT_FOUND,
                f"delete integration ({key})",
                apigw.delete_integration,
                ApiId=gateway.api_id,
                IntegrationId=route.integration_id,
            )
            run.did(f"deleted the {key} integration")
        route.integration_id = route.route_id = ""
        route.deployed = False
        # The row may be gone already (the admin deletes it first); then there is nothing to record.
        ApiGatewayAdditionalRoute.objects.filter(pk=route.pk).update(integration_id="", route_id="", deployed=False)
        if gateway.stage_created:
            _deploy(run)

    if not (route.route_id or route.integration_id):
        return []
    return _run(gateway, f"Delete route {route.route_key!r}", body)
