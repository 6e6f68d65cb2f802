"""The testing toolkit on the standalone project's own view and settings, in this process.

    DJANGO_SETTINGS_MODULE=tests.standalone.settings python -m tests.standalone.with_toolkit

Two connections to one channel, an echo, one connection vanishing and a broadcast; prints one JSON line with what
each connection received, what the broadcast found gone, and which modules of this repository's other packages got
imported.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main() -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command

    from websockets_app.messaging import broadcast
    from websockets_app.models import WebSocketSession
    from websockets_app.testing import WebSocketTestClient

    call_command("migrate", verbosity=0)
    with WebSocketTestClient() as client:
        first = client.connect(query={"channel": "lobby"})
        second = client.connect(query={"channel": "lobby"})
        answer = first.send({"action": "echo", "text": "hello"})
        second.vanish()
        result = broadcast({"notice": "all"})
        report = {
            "accepted": [first.accepted, second.accepted],
            "answer": answer,
            "first": first.received,
            "second": second.received,
            "gone": result.gone == [second.connection_id],
            "marked": not WebSocketSession.objects.get(connection_id=second.connection_id).connected,
        }
    report["imported"] = sorted(
        name
        for name in sys.modules
        if name.split(".")[0] in ("infra", "project")
        or (name.startswith("tests.") and not name.startswith("tests.standalone"))
    )
    return report


if __name__ == "__main__":
    print(json.dumps(main()))
