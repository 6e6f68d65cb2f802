"""Where a session is posted to: its gateway's Management API endpoint and signing region, or why there is none."""

from __future__ import annotations

from collections.abc import Iterable

from websockets_app.messaging.results import Failure, SendResult, Target
from websockets_app.models import ApiGateway

# Failure codes for sessions that cannot be posted to at all.
NO_API_GATEWAY = "NoApiGateway"
NO_ENDPOINT = "NoEndpoint"


# The fields endpoint_of reads (with the primary key): a gateway loaded with only these is posted to without a query.
ENDPOINT_FIELDS = ("api_name", "api_id", "region", "stage_name")


def endpoint_of(gateway: ApiGateway) -> tuple[str, str]:
    """The gateway's Management API endpoint and signing region; ValueError when it has none."""
    # The signing region for a configured local endpoint may be unknown; any region signs for it.
    return gateway.management_endpoint_url, gateway.effective_region or "us-east-1"


def resolve(rows: Iterable[tuple[str, int | None]], gateways: dict[int, ApiGateway]) -> tuple[list[Target], SendResult]:
    """Targets for the rows that can be posted to; a result holding failures for those that cannot."""
    endpoints: dict[int, tuple[str, str] | str] = {}
    for pk, gateway in gateways.items():
        try:
            endpoints[pk] = endpoint_of(gateway)
        except ValueError as exc:
            endpoints[pk] = str(exc)
    targets: list[Target] = []
    result = SendResult()
    for connection_id, gateway_id in rows:
        if gateway_id is None:
            reason = "The session has no API Gateway, so there is no endpoint to post to."
            result.failed.append(Failure(connection_id, NO_API_GATEWAY, reason))
            continue
        endpoint = endpoints.get(gateway_id)
        if endpoint is None:
            result.failed.append(Failure(connection_id, NO_ENDPOINT, f"API Gateway {gateway_id} does not exist."))
        elif isinstance(endpoint, str):
            result.failed.append(Failure(connection_id, NO_ENDPOINT, endpoint))
        else:
            targets.append(Target(connection_id, *endpoint))
    return targets, result
