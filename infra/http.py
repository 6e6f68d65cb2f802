"""The HTTP adapter: API Gateway REST (v1), HTTP API (v2), Function URL and ALB events -> Django.

apig-wsgi is the default; ``LAMBDA_HTTP_ADAPTER=serverless-wsgi`` selects serverless-wsgi, which is imported only
then.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from websockets_app.aws_lambda.wsgi import LambdaHandler
from websockets_app.aws_lambda.wsgi_text import WSGIApp, body_is_decodable, percent_encoded, with_wsgi_header_text
from websockets_app.gateway import ambiguous_integration_header

ADAPTERS = ("apig-wsgi", "serverless-wsgi")

# The answer to an event whose body is not what it claims (base64 that is not, text that cannot be encoded).
BAD_REQUEST = {"statusCode": 400, "headers": {"Content-Type": "text/plain; charset=utf-8"}, "body": "Bad request."}


_log = logging.getLogger(__name__)


def build_http_handler(application: WSGIApp, adapter: str = "apig-wsgi") -> LambdaHandler:
    adapter_handler = _adapter_handler(application, adapter)

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if isinstance(event, dict):
            if not body_is_decodable(event):
                return dict(BAD_REQUEST)
            # Both adapters fold x_websocket_event_type into the environ key of X-WebSocket-Event-Type, last one
            # winning: a client header could replace one an HTTP integration adds. Only the event still shows
            # the names apart, so the check is made here, before WSGI.
            ambiguous = ambiguous_integration_header(_raw_headers(event))
            if ambiguous is not None:
                _log.warning("HTTP request refused: ambiguous integration header", extra={"header": ambiguous})
                return dict(BAD_REQUEST)
        return adapter_handler(_with_ascii_url(event), context)

    return handle


def _raw_headers(event: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every header of the event as sent: each value of a REST or ALB multi-value header, else the plain map."""
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict) and multi:
        for name, values in multi.items():
            for value in values if isinstance(values, list) else [values]:
                yield name, value
        return
    headers = event.get("headers")
    if isinstance(headers, dict):
        yield from headers.items()


def _adapter_handler(application: WSGIApp, adapter: str) -> LambdaHandler:
    if adapter == "apig-wsgi":
        from apig_wsgi import make_lambda_handler

        return make_lambda_handler(with_wsgi_header_text(application), binary_support=True)
    if adapter == "serverless-wsgi":
        # serverless-wsgi prefixes paths with the stage name on execute-api hosts; this project's HTTP API serves
        # the $default stage, whose URLs carry no stage. STRIP_STAGE_PATH=0 restores the prefix for REST stages.
        os.environ.setdefault("STRIP_STAGE_PATH", "1")
        import serverless_wsgi

        # serverless-wsgi converts CONTENT_TYPE itself, but not the headers (nor v2's cookies).
        application = with_wsgi_header_text(application, unprefixed=())

        def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return serverless_wsgi.handle_request(application, event, context)

        return handle
    raise ImproperlyConfigured(f"LAMBDA_HTTP_ADAPTER must be one of {', '.join(ADAPTERS)}, not {adapter!r}.")


# Where an event carries its URL as raw text: payload v2's path and query string, v1's and ALB's path (their query
# parameters come decoded, and apig-wsgi encodes them).
_RAW_URL_KEYS = ("rawPath", "rawQueryString", "path")


def _with_ascii_url(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its raw path and query string percent-encoded where they are not ASCII."""
    if not isinstance(event, dict):
        return event
    return {**event, **{key: percent_encoded(event[key]) for key in _RAW_URL_KEYS if key in event}}
