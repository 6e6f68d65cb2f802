"""One WebSocket connection's life through the standalone project's Lambda handler, in this process.

    DJANGO_SETTINGS_MODULE=tests.standalone.settings python -m tests.standalone.round_trip

$connect, a message that makes the view send to the connection, $disconnect; prints one JSON line with each
result, the session's state after each step, and which modules of this repository's other packages got imported.
"""

from __future__ import annotations

import json
import sys
from typing import Any


class LambdaContext:
    """The part of Lambda's context object the handler reads: the time left (here, plenty)."""

    aws_request_id = "standalone-request"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def main() -> dict[str, Any]:
    from django.core.management import call_command

    from tests.standalone.lambda_function import handler
    from websockets_app.aws_lambda import events
    from websockets_app.models import WebSocketSession

    call_command("migrate", verbosity=0)
    context = LambdaContext()
    headers = {"Host": events.SAMPLE_DOMAIN, "Origin": "https://www.example.com"}

    def session_state() -> dict[str, Any] | None:
        session = WebSocketSession.objects.filter(connection_id=events.SAMPLE_CONNECTION_ID).first()
        return None if session is None else {"channel": session.channel_name, "connected": session.connected}

    steps = []
    for name, event in [
        ("connect", events.connect_event(headers, {"channel": "lobby"})),
        ("message", events.message_event(json.dumps({"action": "echo", "text": "hello"}))),
        ("disconnect", events.disconnect_event()),
    ]:
        result = handler(event, context)
        steps.append({"step": name, "status": result["statusCode"], "body": result.get("body", "")})
        steps[-1]["session"] = session_state()
    own_packages = sorted(
        name
        for name in sys.modules
        if name.split(".")[0] in ("infra", "project") or (name.startswith("tests.") and not _is_standalone(name))
    )
    return {"steps": steps, "imported": own_packages}


def _is_standalone(name: str) -> bool:
    return name == "tests.standalone" or name.startswith("tests.standalone.")


if __name__ == "__main__":
    print(json.dumps(main()))
