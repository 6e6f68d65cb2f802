"""AWS Lambda entry points.

Django is set up once per container, when this module is imported (Lambda's init phase), so every invocation
only runs the request itself.
"""

from __future__ import annotations

from typing import Any

from apig_wsgi import make_lambda_handler

from project.wsgi import application  # sets DJANGO_SETTINGS_MODULE and runs django.setup()

_http = make_lambda_handler(application, binary_support=True)


def http_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway HTTP API (v2), REST API (v1) or ALB event -> Django, through apig-wsgi."""
    return _http(event, context)
