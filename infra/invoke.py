"""Run the sample events in ``infra/events/`` through ``infra.handlers.handler`` in this process, printing each
result: what ``make invoke`` does where no container runtime is there for ``sam local invoke``.

    python -m infra.invoke [NAME ...]      run the named samples (all, in order, without a name)
    python -m infra.invoke --list [NAME]   print the sample names
    python -m infra.invoke --function NAME print the template's function for a sample (for sam local invoke)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent / "events"

# Sample -> the template function that receives it, in the order a session lives: connect, talk, leave, then the rest.
SAMPLES: dict[str, str] = {
    "connect": "WebSocketFunction",
    "message-default": "WebSocketFunction",
    "message-route": "WebSocketFunction",
    "disconnect": "WebSocketFunction",
    "http-get": "HttpFunction",
    "http-post": "HttpFunction",
    "schedule-sessions": "CleanupFunction",
    "schedule-tokens": "CleanupFunction",
    "schedule-stale": "CleanupFunction",
    "schedule-all": "CleanupFunction",
    "manage": "ManageFunction",
    "sqs-batch": "FanoutFunction",
}


class UnknownSample(ValueError):
    pass


def load(name: str) -> dict[str, Any]:
    if name not in SAMPLES:
        raise UnknownSample(f"No sample event {name!r}. Samples: {', '.join(SAMPLES)}.")
    return json.loads((EVENTS_DIR / f"{name}.json").read_text())


def sample_hosts() -> list[str]:
    """The host names the samples are addressed to, for DJANGO_ALLOWED_HOSTS."""
    hosts = set()
    for name in SAMPLES:
        context = load(name).get("requestContext")
        if isinstance(context, dict) and isinstance(context.get("domainName"), str):
            hosts.add(context["domainName"])
    return sorted(hosts)


SAMPLE_USER = "sample-user"


def issue_sample_token(event: dict[str, Any]) -> None:
    """Store the token a sample $connect carries, as the token endpoint would have moments before (fresh, unused,
    bound to the sample's session cookie), so the connect is accepted like a browser's."""
    from http.cookies import SimpleCookie

    from django.conf import settings
    from django.contrib.auth import get_user_model

    from websockets_app.models import WebSocketToken

    token = (event.get("queryStringParameters") or {}).get("ws_token")
    if not token:
        return
    cookie = SimpleCookie(event.get("headers", {}).get("Cookie", ""))
    session_key = cookie[settings.SESSION_COOKIE_NAME].value if settings.SESSION_COOKIE_NAME in cookie else ""
    user, _ = get_user_model().objects.get_or_create(username=SAMPLE_USER)
    token_hash = WebSocketToken.hash_token(token)
    WebSocketToken.objects.filter(token_hash=token_hash).delete()
    WebSocketToken.objects.create(token_hash=token_hash, user=user, session_key=session_key)


class LocalContext:
    """The Lambda context the handlers read, for one local invocation (this command, the local gateway)."""

    memory_limit_in_mb = 1024
    function_version = "$LATEST"
    log_group_name = "/aws/lambda/local"
    log_stream_name = "local"

    def __init__(self, function_name: str = "local", timeout_seconds: float = 29) -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.add_argument("--list", action="store_true", help="print the sample names")
    parser.add_argument("--function", action="store_true", help="print the function of the named sample")
    args = parser.parse_args(argv)
    names = args.names or list(SAMPLES)
    unknown = [name for name in names if name not in SAMPLES]
    if unknown:
        parser.error(f"no sample event {', '.join(map(repr, unknown))}; samples: {', '.join(SAMPLES)}")
    if args.list or args.function:
        print("\n".join(SAMPLES[name] if args.function else name for name in names))
        return 0

    # The samples' API hosts are served here as they are on AWS.
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", ",".join(["localhost", "127.0.0.1", *sample_hosts()]))
    from infra.handlers import handler

    for name in names:
        event = load(name)
        if name == "connect":
            issue_sample_token(event)
        result = handler(event, LocalContext())
        print(f"--- {name} ({SAMPLES[name]})\n{json.dumps(result, indent=2, default=str)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
