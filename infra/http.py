"""The HTTP adapter: API Gateway REST (v1), HTTP API (v2), Function URL and ALB events -> Django.

apig-wsgi is the default; ``LAMBDA_HTTP_ADAPTER=serverless-wsgi`` selects serverless-wsgi, which is imported only
then.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from infra.websocket import LambdaHandler, WSGIApp

ADAPTERS = ("apig-wsgi", "serverless-wsgi")


def build_http_handler(application: WSGIApp, adapter: str = "apig-wsgi") -> LambdaHandler:
    if adapter == "apig-wsgi":
        from apig_wsgi import make_lambda_handler

        return make_lambda_handler(application, binary_support=True)
    if adapter == "serverless-wsgi":
        # serverless-wsgi prefixes paths with the stage name on execute-api hosts; this project's HTTP API serves
        # the $default stage, whose URLs carry no stage. STRIP_STAGE_PATH=0 restores the prefix for REST stages.
        os.environ.setdefault("STRIP_STAGE_PATH", "1")
        import serverless_wsgi

        def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return serverless_wsgi.handle_request(application, event, context)

        return handle
    raise ImproperlyConfigured(f"LAMBDA_HTTP_ADAPTER must be one of {', '.join(ADAPTERS)}, not {adapter!r}.")
