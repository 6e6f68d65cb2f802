"""The HTTP adapter: API Gateway REST (v1), HTTP API (v2), Function URL and ALB events -> Django.

apig-wsgi is the default; ``LAMBDA_HTTP_ADAPTER=serverless-wsgi`` selects serverless-wsgi, which is imported only
then.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from infra.websocket import LambdaHandler
from infra.wsgi_text import WSGIApp, body_is_decodable, percent_encoded, with_wsgi_header_text

ADAPTERS = ("apig-wsgi", "serverless-wsgi")

# The answer to an event whose body is not what it claims (base64 that is not, text that cannot be encoded).
BAD_REQUEST = {"statusCode": 400, "headers": {"Content-Type": "text/plain; charset=utf-8"}, "body": "Bad request."}


def build_http_handler(application: WSGIApp, adapter: str = "apig-wsgi") -> LambdaHandler:
    adapter_handler = _adapter_handler(application, adapter)

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if isinstance(event, dict) and not body_is_decodable(event):
            return dict(BAD_REQUEST)
        return adapter_handler(_with_ascii_url(event), context)

    return handle


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
