"""Routes and their integrations: one per built-in route key and per additional route, kept in step with AWS."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from websockets_app.gateway import integration_request_parameters
from websockets_app.models import ApiGatewayAdditionalRoute, IntegrationType
from websockets_app.provisioning.run import ALREADY_EXISTS, NOT_FOUND, ProvisioningError, Run

if TYPE_CHECKING:
    from websockets_app.models import ApiGateway


def check_https_targets(gateway: ApiGateway, routes: Iterable[ApiGatewayAdditionalRoute]) -> None:
    """Refuse an HTTP_PROXY gateway whose target or any route's URL is not HTTPS, before anything reaches AWS.

    Every request an HTTP integration forwards carries the integration secret, so a plain-HTTP target would send
    it in clear text. The models' own field validators run here: rows written through the ORM, a shell or
    imported data never met the admin form's validation.
    """
    if gateway.integration_type != IntegrationType.HTTP_PROXY:
        return
    values: list[tuple[ApiGateway | ApiGatewayAdditionalRoute, str, str]] = [
        (gateway, "target_base_endpoint", gateway.target_base_endpoint)
    ]
    values += [(route, "integration_url", route.integration_url) for route in routes if route.integration_url]
    for row, name, value in values:
        fields = {field.name: field for field in type(row)._meta.concrete_fields}
        try:
            fields[name].run_validators(value)
        except ValidationError as exc:
            where = f"route {row.route_key!r}" if isinstance(row, ApiGatewayAdditionalRoute) else "the gateway"
            raise ProvisioningError(
                f"the {name} of {where} is not an HTTPS URL, so no integration was sent to AWS "
                f"({' '.join(exc.messages)})"
            ) from None


def integration_settings(gateway: ApiGateway, http_target: Callable[[], str]) -> dict[str, Any]:
    """The integration settings a route of ``gateway`` should have right now."""
    if gateway.integration_type == IntegrationType.AWS_PROXY:
        return {
            "IntegrationType": "AWS_PROXY",
            "IntegrationMethod": "POST",
            "IntegrationUri": gateway.lambda_integration_uri,
        }
    target = http_target()
    if not target.lower().startswith("https://"):
        # check_https_targets runs first; this holds the line for any other caller.
        raise ProvisioningError("an HTTP integration target must be an HTTPS URL")
    return {
        "IntegrationType": "HTTP_PROXY",
        "IntegrationMethod": "POST",
        "IntegrationUri": target,
        "RequestParameters": integration_request_parameters(gateway),
    }


class RouteSlot:
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


def builtin_slot(run: Run, route_key: str) -> RouteSlot:
    gateway = run.gateway

    def store(ids: dict[str, str]) -> None:
        gateway.builtin_route_ids = {**gateway.builtin_route_ids, route_key: ids}
        run.save("builtin_route_ids")

    return RouteSlot(
        route_key, dict(gateway.builtin_route_ids.get(route_key, {})), store, lambda: gateway.integration_uri(route_key)
    )


def additional_slot(run: Run, route: ApiGatewayAdditionalRoute) -> RouteSlot:
    def store(ids: dict[str, str]) -> None:
        route.integration_id, route.route_id = ids.get("integration", ""), ids.get("route", "")
        route.route_response_id = ids.get("response", "")
        route.save(update_fields=["integration_id", "route_id", "route_response_id", "updated_on"])

    route.api_gateway = run.gateway  # one copy of the gateway for the whole run
    ids = {"integration": route.integration_id, "route": route.route_id, "response": route.route_response_id}
    return RouteSlot(route.route_key, ids, store, route.target_url)


# Routes whose handler's reply goes back to the client, as template.yaml's $default: every route but $connect and
# $disconnect gets the route response selection expression "$default" and a "$default" route response. Without
# them API Gateway drops what the integration returns.
ONE_WAY_ROUTE_KEYS = frozenset({"$connect", "$disconnect"})
ROUTE_RESPONSE_KEY = "$default"


def two_way(route_key: str) -> bool:
    return route_key not in ONE_WAY_ROUTE_KEYS


def sync_route(run: Run, slot: RouteSlot) -> None:
    """Create or update one route and its integration, replacing the integration when its type changes."""
    integration_id, replaced = _sync_integration(run, slot)
    _sync_route_target(run, slot, f"integrations/{integration_id}")
    if two_way(slot.route_key):
        _sync_route_response(run, slot)
    if replaced:
        run.call_tolerating(
            NOT_FOUND,
            f"delete old integration ({slot.route_key})",
            run.apigw.delete_integration,
            ApiId=run.gateway.api_id,
            IntegrationId=replaced,
        )
        run.did(f"replaced the {slot.route_key} integration")


def _sync_integration(run: Run, slot: RouteSlot) -> tuple[str, str]:
    """The route's integration id, created or updated; and the id of an integration it replaces, if any."""
    gateway, apigw, key = run.gateway, run.apigw, slot.route_key
    wanted = integration_settings(gateway, slot.http_target)
    integration_id, replaced = slot.ids.get("integration", ""), ""
    if integration_id:
        current = run.call_tolerating(
            NOT_FOUND,
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
    return integration_id, replaced


def _sync_route_target(run: Run, slot: RouteSlot, target: str) -> None:
    """Point the route at ``target``, creating the route (or adopting an unrecorded one) when needed."""
    gateway, apigw, key = run.gateway, run.apigw, slot.route_key
    replies = {"RouteResponseSelectionExpression": ROUTE_RESPONSE_KEY} if two_way(key) else {}

    def retarget(route_id: str, tolerate: frozenset[str] = frozenset()) -> Any:
        return run.call_tolerating(
            tolerate,
            f"update route ({key})",
            apigw.update_route,
            ApiId=gateway.api_id,
            RouteId=route_id,
            RouteKey=key,
            Target=target,
            **replies,
        )

    route_id = slot.ids.get("route", "")
    if route_id:
        updated = retarget(route_id, NOT_FOUND)
        if updated is None:
            route_id = ""
        else:
            run.did(f"updated the {key} route")
    if not route_id:
        created = run.call_tolerating(
            ALREADY_EXISTS,
            f"create route ({key})",
            apigw.create_route,
            ApiId=gateway.api_id,
            RouteKey=key,
            Target=target,
            **replies,
        )
        if created is None:
            # The route exists but its id was never recorded (a run stopped in between): adopt and retarget it.
            route_id = find_route_id(run, key)
            retarget(route_id)
        else:
            route_id = created["RouteId"]
        slot.set(route=route_id, response="")  # a new route has no route response of ours yet
        run.did(f"created the {key} route")


def _sync_route_response(run: Run, slot: RouteSlot) -> None:
    """Make sure the route has its "$default" route response (created on update too, for routes made without)."""
    gateway, apigw, key = run.gateway, run.apigw, slot.route_key
    route_id, response_id = slot.ids["route"], slot.ids.get("response", "")
    if response_id:
        current = run.call_tolerating(
            NOT_FOUND,
            f"read route response ({key})",
            apigw.get_route_response,
            ApiId=gateway.api_id,
            RouteId=route_id,
            RouteResponseId=response_id,
        )
        if current is not None:
            return
    created = run.call_tolerating(
        ALREADY_EXISTS,
        f"create route response ({key})",
        apigw.create_route_response,
        ApiId=gateway.api_id,
        RouteId=route_id,
        RouteResponseKey=ROUTE_RESPONSE_KEY,
    )
    if created is None:
        # The route already has one that was never recorded (made outside Django, or by a run that stopped).
        listed = run.call(
            f"list route responses ({key})", apigw.get_route_responses, ApiId=gateway.api_id, RouteId=route_id
        )
        found = [item for item in listed.get("Items", []) if item.get("RouteResponseKey") == ROUTE_RESPONSE_KEY]
        if not found:
            raise ProvisioningError(f"create route response ({key}) failed: AWS reported a conflict but has none")
        slot.set(response=found[0]["RouteResponseId"])
        return
    slot.set(response=created["RouteResponseId"])
    run.did(f"created the {key} route response")


def find_route_id(run: Run, route_key: str) -> str:
    for route in all_items(run, "get_routes"):
        if route.get("RouteKey") == route_key:
            route_id: str = route["RouteId"]
            return route_id
    raise ProvisioningError(f"create route ({route_key}) failed: AWS reported a conflict but has no such route")


def all_items(run: Run, operation: str) -> Iterable[dict[str, Any]]:
    paginator = run.apigw.get_paginator(operation)
    pages = run.call(
        f"list {operation.removeprefix('get_')}", lambda: list(paginator.paginate(ApiId=run.gateway.api_id))
    )
    for page in pages:
        yield from page.get("Items", [])


def prune(run: Run, keep_routes: set[str], keep_integrations: set[str]) -> None:
    """Delete routes, then integrations, that the row does not record (removed routes, interrupted replacements)."""
    apigw, api_id = run.apigw, run.gateway.api_id
    for route in list(all_items(run, "get_routes")):
        if route["RouteId"] not in keep_routes:
            run.call_tolerating(
                NOT_FOUND,
                f"delete route ({route.get('RouteKey')})",
                apigw.delete_route,
                ApiId=api_id,
                RouteId=route["RouteId"],
            )
            run.did(f"deleted the {route.get('RouteKey')} route, which no row describes")
    for integration in list(all_items(run, "get_integrations")):
        if integration["IntegrationId"] not in keep_integrations:
            run.call_tolerating(
                NOT_FOUND,
                "delete unused integration",
                apigw.delete_integration,
                ApiId=api_id,
                IntegrationId=integration["IntegrationId"],
            )
            run.did(f"deleted unused integration {integration['IntegrationId']}")
