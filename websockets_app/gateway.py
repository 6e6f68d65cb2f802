"""Where a WebSocket request's connection facts come from, and whether they can be trusted.

Two integration kinds reach the WebSocket view:

* ``AWS_PROXY`` (Lambda): the Lambda entry point puts API Gateway's request context into the WSGI environ under
  ``REQUEST_CONTEXT_ENVIRON_KEY``. No client can write there, so it is trusted as it is.
* ``HTTP_PROXY`` (Django hosted anywhere): API Gateway forwards the request over HTTP and adds the headers below
  through the integration's request parameters. Such a request is trusted only when its secret header matches
  the ``integration_secret`` of the gateway it names.

Anything else (a browser or a script posting to the WebSocket URL) is untrusted and the view refuses it.

WSGI folds ``X-WebSocket-Event-Type`` and ``x_websocket_event_type`` into one environ key, and joins a header sent
twice with commas, so a client header could stand in for one the integration adds. A request on which any
integration header is ambiguous is a 400: here where the environ shows it (a comma, which none of their values
ever holds), and in the Lambda HTTP entry point (``infra.http``), which sees the raw header names. Behind any other
server, the server must drop header names with underscores (see docs/security.md).
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict, TypeGuard, get_args

from django.core.exceptions import BadRequest, ValidationError

from websockets_app.conf import ws_settings
from websockets_app.validators import is_valid_connection_id, validate_stage_name

if TYPE_CHECKING:
    from django.http import HttpRequest

    from websockets_app.models import ApiGateway

# The WSGI environ key that carries the Lambda event's requestContext (set by infra, read here).
REQUEST_CONTEXT_ENVIRON_KEY = "websockets_app.request_context"

# Headers an HTTP_PROXY integration adds to every request it forwards.
SECRET_HEADER = "X-WebSocket-Secret"  # noqa: S105 (a header name, not a secret)
CONNECTION_ID_HEADER = "X-WebSocket-Connection-Id"
API_ID_HEADER = "X-WebSocket-Api-Id"
STAGE_HEADER = "X-WebSocket-Stage"
EVENT_TYPE_HEADER = "X-WebSocket-Event-Type"
ROUTE_KEY_HEADER = "X-WebSocket-Route-Key"
SOURCE_IP_HEADER = "X-WebSocket-Source-Ip"
INTEGRATION_HEADERS = (
    SECRET_HEADER,
    CONNECTION_ID_HEADER,
    API_ID_HEADER,
    STAGE_HEADER,
    EVENT_TYPE_HEADER,
    ROUTE_KEY_HEADER,
    SOURCE_IP_HEADER,
)
_INTEGRATION_HEADER_NAMES = frozenset(header.lower() for header in INTEGRATION_HEADERS)

# What API Gateway's requestContext.eventType says a request is.
EventType = Literal["CONNECT", "MESSAGE", "DISCONNECT"]
EVENT_TYPES: frozenset[EventType] = frozenset(get_args(EventType))
# The path a request's facts came by: the Lambda event, an HTTP integration's headers, or neither.
Via = Literal["lambda", "http", "none"]
LAMBDA: Final = "lambda"
HTTP: Final = "http"
NONE: Final = "none"

_EXECUTE_API_DOMAIN = re.compile(r"[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\Z")


def integration_request_parameters(gateway: ApiGateway) -> dict[str, str]:
    """The ``RequestParameters`` of an HTTP_PROXY integration, so Django receives what this module expects."""
    return {
        f"integration.request.header.{CONNECTION_ID_HEADER}": "context.connectionId",
        f"integration.request.header.{API_ID_HEADER}": "context.apiId",
        f"integration.request.header.{STAGE_HEADER}": "context.stage",
        f"integration.request.header.{EVENT_TYPE_HEADER}": "context.eventType",
        f"integration.request.header.{ROUTE_KEY_HEADER}": "context.routeKey",
        f"integration.request.header.{SOURCE_IP_HEADER}": "context.identity.sourceIp",
        f"integration.request.header.{SECRET_HEADER}": f"'{gateway.integration_secret}'",
    }


def _meta_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def ambiguous_integration_header(headers: Iterable[tuple[str, Any]]) -> str | None:
    """The first integration header among raw ``(name, value)`` pairs that is not there exactly once, spelled
    with dashes and holding one value; None when there is none.

    For adapters that see header names before WSGI merges them (Lambda events).
    """
    seen: set[str] = set()
    for name, value in headers:
        if not isinstance(name, str):
            continue
        canonical = name.lower().replace("_", "-")
        if canonical not in _INTEGRATION_HEADER_NAMES:
            continue
        if canonical in seen or "_" in name or (isinstance(value, str) and "," in value):
            return canonical
        seen.add(canonical)
    return None


@dataclass(frozen=True)
class GatewayContext:
    """The connection facts of one request: which connection, API, stage and client, and whether to believe them."""

    trusted: bool
    via: Via
    connection_id: str = ""
    api_id: str = ""
    stage: str = ""
    event_type: EventType | Literal[""] = ""  # "": none of the three (such a request is never trusted)
    route_key: str = ""
    source_ip: str = ""
    domain_name: str = ""
    # HTTP mode: the gateway whose secret matched (already loaded, so the view need not look it up again).
    gateway: ApiGateway | None = None

    @classmethod
    def from_request(cls, request: HttpRequest) -> GatewayContext:
        request_context = request.META.get(REQUEST_CONTEXT_ENVIRON_KEY)
        if isinstance(request_context, dict):
            return cls.from_lambda(request_context)
        if _meta_key(SECRET_HEADER) in request.META:
            return cls.from_http_headers(request.META)
        return cls(trusted=False, via=NONE)

    @classmethod
    def from_lambda(cls, request_context: dict[str, Any]) -> GatewayContext:
        identity = request_context.get("identity")
        facts = _facts(
            connection_id=request_context.get("connectionId"),
            api_id=request_context.get("apiId"),
            stage=request_context.get("stage"),
            event_type=request_context.get("eventType"),
            route_key=request_context.get("routeKey"),
            source_ip=identity.get("sourceIp") if isinstance(identity, dict) else "",
            domain_name=request_context.get("domainName"),
        )
        return cls(trusted=_complete(facts), via=LAMBDA, **facts)

    @classmethod
    def from_http_headers(cls, meta: dict[str, Any]) -> GatewayContext:
        """The facts an HTTP integration's headers carry; BadRequest when one of them was sent more than once."""
        from websockets_app.models import ApiGateway

        for header in INTEGRATION_HEADERS:
            value = meta.get(_meta_key(header))
            # None of these values holds a comma: one means the header came twice (or in two spellings) and the
            # server joined them. Which one the integration sent cannot be told, so the request is refused.
            if isinstance(value, str) and "," in value:
                raise BadRequest(f"ambiguous {header} header")
        facts = _facts(
            connection_id=meta.get(_meta_key(CONNECTION_ID_HEADER)),
            api_id=meta.get(_meta_key(API_ID_HEADER)),
            stage=meta.get(_meta_key(STAGE_HEADER)),
            event_type=meta.get(_meta_key(EVENT_TYPE_HEADER)),
            route_key=meta.get(_meta_key(ROUTE_KEY_HEADER)),
            source_ip=meta.get(_meta_key(SOURCE_IP_HEADER)),
            domain_name=meta.get("HTTP_HOST"),
        )
        if not _complete(facts):
            return cls(trusted=False, via=HTTP, **facts)
        gateway = ApiGateway.objects.filter(api_id=facts["api_id"], stage_name=facts["stage"]).first()
        secret = meta.get(_meta_key(SECRET_HEADER), "")
        trusted = gateway is not None and hmac.compare_digest(secret.encode(), gateway.integration_secret.encode())
        return cls(trusted=trusted, via=HTTP, gateway=gateway if trusted else None, **facts)

    @property
    def region(self) -> str:
        """The API's region, read from its execute-api domain when the event came through one."""
        match = _EXECUTE_API_DOMAIN.match(self.domain_name)
        return match.group(1) if match else ws_settings.region

    def get_gateway(self) -> ApiGateway:
        """The ``ApiGateway`` row of this request's API and stage.

        A Lambda event is trusted, so an API seen for the first time registers itself: a SAM-deployed stack needs
        no record created by hand. HTTP requests only reach here with a gateway whose secret matched.
        """
        if not self.trusted:
            raise ValueError("An untrusted request has no gateway.")
        if self.gateway is not None:
            return self.gateway
        from websockets_app.models import ApiGateway

        # The event is API Gateway's, but its values still have to fit the row: refused (400), never a 500.
        validate_stage_name(self.stage)
        longest_api_id = ApiGateway._meta.get_field("api_id").max_length
        if longest_api_id is not None and len(self.api_id) > longest_api_id:
            raise ValidationError("The event's API id is longer than any API Gateway id.")
        gateway, _ = ApiGateway.objects.get_or_create(
            api_id=self.api_id,
            stage_name=self.stage,
            defaults={
                "api_name": f"{self.api_id} ({self.stage})"[:255],
                "api_description": "Registered from its first event.",
                "region": self.region,
                "api_endpoint": f"wss://{self.domain_name}/{self.stage}" if self.region_from_domain else "",
                "self_registered": True,
            },
        )
        return gateway

    @property
    def region_from_domain(self) -> bool:
        return bool(_EXECUTE_API_DOMAIN.match(self.domain_name))


def client_ip(context: GatewayContext, meta: dict[str, Any]) -> str | None:
    """The client's IP address, from a source a client cannot forge; None when there is none.

    Lambda events carry API Gateway's ``identity.sourceIp``; HTTP integrations map it into X-WebSocket-Source-Ip.
    Without that header, the address comes from ``WEBSOCKETS["TRUSTED_PROXY_HOPS"]``: with N trusted proxies, the
    N-th X-Forwarded-For entry from the right is the one the outermost of them saw. The leftmost entries are
    whatever the client chose to send and are never used.
    """
    if context.source_ip or context.via == LAMBDA:
        return _valid_ip(context.source_ip)
    hops = ws_settings.TRUSTED_PROXY_HOPS
    if hops == 0:
        return _valid_ip(meta.get("REMOTE_ADDR", ""))
    forwarded = [part.strip() for part in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",") if part.strip()]
    return _valid_ip(forwarded[-hops]) if len(forwarded) >= hops else None


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


class _Facts(TypedDict):
    connection_id: str
    api_id: str
    stage: str
    event_type: EventType | Literal[""]
    route_key: str
    source_ip: str
    domain_name: str


def _facts(
    *,
    connection_id: object,
    api_id: object,
    stage: object,
    event_type: object,
    route_key: object,
    source_ip: object,
    domain_name: object,
) -> _Facts:
    """The facts as they arrived; "" for one that is missing or not a string, and for an unknown event type."""

    def text(value: object) -> str:
        return value if isinstance(value, str) else ""

    return _Facts(
        connection_id=text(connection_id),
        api_id=text(api_id),
        stage=text(stage),
        event_type=event_type if _is_event_type(event_type) else "",
        route_key=text(route_key),
        source_ip=text(source_ip),
        domain_name=text(domain_name),
    )


def _is_event_type(value: object) -> TypeGuard[EventType]:
    return value in EVENT_TYPES


def _complete(facts: _Facts) -> bool:
    return (
        is_valid_connection_id(facts["connection_id"])
        and bool(facts["api_id"])
        and bool(facts["stage"])
        and bool(facts["event_type"])
    )
