"""Creating API Gateway resources in AWS from an ``ApiGateway`` row (admin actions and management commands).

Only the admin and the commands call this module; the request path never does. Each function either completes
or raises ``ProvisioningError`` with a message that is safe to show an operator (no secrets).

The preconditions are checked here already; the AWS calls themselves are not part of this version of the
project, so after the checks pass the functions refuse with a clear message and change nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from websockets_app.models import ApiGateway


class ProvisioningError(Exception):
    """A provisioning step could not run or failed; ``str()`` is fit for an admin message."""


_NOT_AVAILABLE = "AWS provisioning is not available in this version of the project; nothing was changed in AWS."


def create_api_gateway(gateway: ApiGateway) -> None:
    """Create the WebSocket API, its integrations, routes, stage and deployment for ``gateway``."""
    if gateway.api_created:
        raise ProvisioningError(f"API Gateway {gateway.api_name!r} has already been created.")
    if not gateway.target_base_endpoint:
        raise ProvisioningError(f"API Gateway {gateway.api_name!r} needs a target base endpoint first.")
    raise ProvisioningError(_NOT_AVAILABLE)


def create_custom_domain(gateway: ApiGateway) -> None:
    """Create the custom domain and its API mapping for an already created ``gateway``."""
    if not gateway.api_created:
        raise ProvisioningError(f"Create API Gateway {gateway.api_name!r} before its custom domain.")
    if gateway.custom_domain_created:
        raise ProvisioningError(f"The custom domain of {gateway.api_name!r} has already been created.")
    if not gateway.domain_name or not gateway.certificate_arn:
        raise ProvisioningError(f"API Gateway {gateway.api_name!r} needs a domain name and a certificate ARN.")
    raise ProvisioningError(_NOT_AVAILABLE)
