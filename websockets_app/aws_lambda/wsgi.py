"""API Gateway WebSocket events -> WSGI requests ``POST <URL_PREFIX><route>``, handled by Django through apig-wsgi.

The event is reshaped into the REST (v1) proxy form apig-wsgi understands. The request context travels in the
WSGI environ under ``websockets_app.gateway.REQUEST_CONTEXT_ENVIRON_KEY``, which only this path sets: a client
cannot forge it, so the view trusts it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from apig_wsgi import make_lambda_handler

from websockets_app.aws_lambda.wsgi_text import WSGIApp, body_is_decodable, with_wsgi_header_text
from websockets_app.conf import ws_settings
from websockets_app.gateway import REQUEST_CONTEXT_ENVIRON_KEY
from websockets_app.limits import ROUTE_KEY_PATTERN
from websockets_app.redaction import take_query_tokens

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class InvalidWebSocketEvent(ValueError):
    """The event has the WebSocket shape but cannot be turned into a request (no route, no connection id...)."""


def route_of(route_key: Any) -> str:
    """$connect -> connect, $disconnect -> disconnect, $default -> default; custom route keys must be slugs."""
    route = route_key.removeprefix("$") if isinstance(route_key, str) else ""
    if not ROUTE_KEY_PATTERN.match(route):
        raise InvalidWebSocketEvent("The event's routeKey is missing or not a slug.")
    return route


def to_wsgi_event(event: dict[str, Any]) -> dict[str, Any]:
    """The v1 proxy event apig-wsgi turns into the WSGI request for this WebSocket event."""
    request_context = event.get("requestContext") if isinstance(event, dict) else None
    if not isinstance(request_context, dict) or not isinstance(request_context.get("connectionId"), str):
        raise InvalidWebSocketEvent("The event has no connection id.")
    route = route_of(request_context.get("routeKey"))

    headers = _multi_value(event.get("multiValueHeaders"), event.get("headers"))
    # MESSAGE and DISCONNECT events carry no headers: name the host and scheme the client used.
    domain_name = request_context.get("domainName")
    present = {name.lower() for name in headers}
    if "host" not in present and isinstance(domain_name, str) and domain_name:
        headers["Host"] = [domain_name]
    if "x-forwarded-proto" not in present:
        headers["X-Forwarded-Proto"] = ["https"]

    body = event.get("body")
    body = body if isinstance(body, str) else ""
    is_base64 = event.get("isBase64Encoded") is True
    if not body_is_decodable({"body": body, "isBase64Encoded": is_base64}):
        raise InvalidWebSocketEvent("The event's body cannot be decoded.")
    return {
        "httpMethod": "POST",
        "path": f"{ws_settings.URL_PREFIX}{route}",
        "multiValueHeaders": headers,
        "multiValueQueryStringParameters": _multi_value(
            event.get("multiValueQueryStringParameters"), event.get("queryStringParameters")
        ),
        "body": body,
        "isBase64Encoded": is_base64,
        "requestContext": request_context,
    }


def _multi_value(multi: Any, single: Any) -> dict[str, list[str]]:
    if isinstance(multi, dict):
        # An empty list is no value at all (and apig-wsgi reads the last value of each list).
        pairs = [(key, values) for key, values in multi.items() if isinstance(values, list) and values]
    elif isinstance(single, dict):
        pairs = [(key, [value]) for key, value in single.items() if value is not None]
    else:
        pairs = []
    result = {str(key): [str(value) for value in values] for key, values in pairs}
    for key, values in result.items():
        _check_text(key, *values)
    return result


def _check_text(*texts: str) -> None:
    # JSON can carry lone surrogates (\ud800); no HTTP request can, and the WSGI layer cannot encode them.
    for text in texts:
        try:
            text.encode()
        except UnicodeEncodeError as exc:
            raise InvalidWebSocketEvent("The event's headers or query string are not valid text.") from exc


def make_wsgi_handler(application: WSGIApp) -> LambdaHandler:
    """WebSocket event -> WSGI request -> ``application`` (the Django WSGI app) -> the Lambda result; an event that
    cannot be turned into a request is answered 400. ``make_websocket_handler`` adds what an invocation needs around
    it (send deadline, database connection)."""

    application = with_wsgi_header_text(application)

    def trusted_application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_context = environ["apig_wsgi.request_context"]
        environ[REQUEST_CONTEXT_ENVIRON_KEY] = request_context
        # The raw event repeats the query string, a $connect's token included, where WebSocketView cannot redact
        # it; nothing reads it, and error reporters that print request.META would.
        environ.pop("apig_wsgi.full_event", None)
        # Likewise the query string: a middleware that fails, or an error reporter, sees ws_token=*** from the start.
        take_query_tokens(environ)
        identity = request_context.get("identity")
        if isinstance(identity, dict) and isinstance(identity.get("sourceIp"), str):
            # The client address API Gateway saw; a client-sent X-Forwarded-For does not override it.
            environ["REMOTE_ADDR"] = identity["sourceIp"]
        return application(environ, start_response)

    wsgi_handler = make_lambda_handler(trusted_application, binary_support=True)

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            wsgi_event = to_wsgi_event(event)
        except InvalidWebSocketEvent:
            return {"statusCode": 400, "body": "Bad request."}
        return wsgi_handler(wsgi_event, context)

    return handle
