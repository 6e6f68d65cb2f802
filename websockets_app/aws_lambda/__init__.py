"""Running the app's WebSocket views in AWS Lambda, behind an API Gateway WebSocket API (AWS_PROXY integration).

A project's Lambda handler module::

    from mysite.wsgi import application
    from websockets_app.aws_lambda import make_websocket_handler
    handler = make_websocket_handler(application)

``make_websocket_handler`` is imported on first use: the event builder (``websockets_app.aws_lambda.events``) is
imported by tests and local tools that must not pull in the WSGI adapter and the senders with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from websockets_app.aws_lambda.handler import make_websocket_handler

__all__ = ["make_websocket_handler"]


def __getattr__(name: str) -> Any:
    if name == "make_websocket_handler":
        from websockets_app.aws_lambda.handler import make_websocket_handler

        return make_websocket_handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
