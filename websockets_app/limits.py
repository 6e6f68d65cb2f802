"""API Gateway's fixed facts for WebSocket APIs, in one place.

Quotas and naming rules from https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html. This module
imports nothing from Django, so the local gateway and the Lambda wiring can read it before Django is set up.
"""

from __future__ import annotations

import re

# Routes every WebSocket API has; the app's views answer them as connect, disconnect and default.
BUILTIN_ROUTE_KEYS: tuple[str, ...] = ("$connect", "$disconnect", "$default")
# A custom route key becomes the last path segment of the WebSocket URL (ws/<slug:route>), so it must be a slug.
ROUTE_KEY_PATTERN = re.compile(r"[-a-zA-Z0-9_]{1,64}\Z")
# What the API reads a message's route key from unless told otherwise.
DEFAULT_ROUTE_SELECTION_EXPRESSION = "$request.body.action"

# One message, after reassembly of its frames; a larger one closes the connection with 1009.
MAX_MESSAGE_BYTES = 128 * 1024
# One frame of a message; a larger one closes the connection with 1009.
MAX_FRAME_BYTES = 32 * 1024
# A connection with no message either way for this long is closed.
IDLE_TIMEOUT_SECONDS = 10 * 60
# API Gateway closes a connection after two hours at most.
MAX_CONNECTION_SECONDS = 2 * 60 * 60

# A stage name: letters, digits, '-' and '_', at most 128 characters (the stage is also the first path segment of
# the API's URL). template.yaml's Stage parameter has the same pattern.
STAGE_NAME_MAX_LENGTH = 128
STAGE_NAME_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{1,{STAGE_NAME_MAX_LENGTH}}}\Z")


def describe_bytes(size: int) -> str:
    """A byte limit as people write it: "128 KB" for 131072, "300 bytes" for sizes that are not whole kilobytes."""
    return f"{size // 1024} KB" if size and size % 1024 == 0 else f"{size} bytes"
