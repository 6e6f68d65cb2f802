"""Running the app's WebSocket views in AWS Lambda, behind an API Gateway WebSocket API (AWS_PROXY integration).

A project's Lambda handler module::

    from mysite.wsgi import application
    from websockets_app.aws_lambda import make_websocket_handler
    handler = make_websocket_handler(application)
"""

from websockets_app.aws_lambda.handler import make_websocket_handler

__all__ = ["make_websocket_handler"]
