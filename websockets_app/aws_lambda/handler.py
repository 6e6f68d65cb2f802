"""The Lambda handler for API Gateway WebSocket events, for any Django project that uses this app.

One invocation runs as Django runs a request behind any WSGI server, plus what Lambda needs: the event becomes a
WSGI request for the project's ``WebSocketView`` (``websockets_app.aws_lambda.wsgi``), a send made while handling
it ends before the invocation does (``websockets_app.messaging.lambda_context``), and a database connection kept by
a warm container is checked first, so that a database that cannot be reached ends the invocation with a 500 within
the connect timeout instead of a Lambda timeout (``websockets_app.aws_lambda.database``).
"""

from __future__ import annotations

from typing import Any

from websockets_app.aws_lambda import database
from websockets_app.aws_lambda.wsgi import LambdaHandler, make_wsgi_handler
from websockets_app.aws_lambda.wsgi_text import WSGIApp
from websockets_app.messaging import lambda_context

# API Gateway passes a non-2xx status of a $connect on to the client as a refused handshake; the cause is logged.
INTERNAL_SERVER_ERROR = {
    "statusCode": 500,
    "headers": {"Content-Type": "text/plain; charset=utf-8"},
    "body": "Internal server error.",
}


def make_websocket_handler(application: WSGIApp | None = None) -> LambdaHandler:
    """``handler(event, context) -> dict`` for API Gateway WebSocket events (CONNECT, MESSAGE, DISCONNECT).

    ``application``: the project's WSGI application; by default Django's, for the settings module named by
    DJANGO_SETTINGS_MODULE. Call this once per container, at import time (Lambda's init phase).
    """
    if application is None:
        from django.core.wsgi import get_wsgi_application

        application = get_wsgi_application()
    wsgi_handler = make_wsgi_handler(application)

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with lambda_context(context):
            try:
                # Django's request signals look after a kept connection; only a missing one is opened here.
                with database.invocation(through_wsgi=True):
                    return wsgi_handler(event, context)
            except database.DatabaseUnavailable:  # logged where it was raised
                return dict(INTERNAL_SERVER_ERROR)

    return handler
