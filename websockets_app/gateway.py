"""Where a WebSocket request's connection facts come from, and whether they can be trusted.

Two integration kinds reach the WebSocket view:

* ``AWS_PROXY`` (Lambda): the Lambda entry point puts API Gateway's request context into the WSGI environ under
  ``REQUEST_CONTEXT_ENVIRON_KEY``. No client can write there, so it is trusted as it is.
* ``HTTP_PROXY`` (Django hosted anywhere): API Gateway forwards the request over HTTP and adds the headers below
  through the integration's request parameters. Such a request is trusted only when its secret header matches
  the ``integration_secret`` of the gateway it names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from websockets_app.models import ApiGateway

# The WSGI environ key that carries the Lambda event's requestContext (set by infra, read here).
REQUEST_CONTEXT_ENVIRON_KEY = "websockets_app.request_context"

# Headers an HTTP_PROXY integration adds to every request it forwards.
SECRET_HEADER = "X-WebSocket-Secret"  # noqa: S105 (a header name, not a secret)
CONNECTION_ID_HEADER = "X-WebSocket-Connection-Id"
API_ID_HEADER = "X-WebSocket-Api-Id"
STAGE_HEADER = "X-WebSocket-Stage"
SOURCE_IP_HEADER = "X-WebSocket-Source-Ip"


def integration_request_parameters(gateway: ApiGateway) -> dict[str, str]:
    """The ``RequestParameters`` of an HTTP_PROXY integration, so Django receives what this module expects."""
    return {
        f"integration.request.header.{CONNECTION_ID_HEADER}": "context.connectionId",
        f"integration.request.header.{API_ID_HEADER}": "context.apiId",
        f"integration.request.header.{STAGE_HEADER}": "context.stage",
        f"integration.request.header.{SOURCE_IP_HEADER}": "context.identity.sourceIp",
        f"integration.request.header.{SECRET_HEADER}": f"'{gateway.integration_secret}'",
    }
