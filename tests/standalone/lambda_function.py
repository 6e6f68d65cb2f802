"""The standalone project's Lambda handler module: the three lines docs/deploying-reference.md shows."""

from tests.standalone.wsgi import application
from websockets_app.aws_lambda import make_websocket_handler

handler = make_websocket_handler(application)
