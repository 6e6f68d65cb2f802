"""The app's settings: one ``WEBSOCKETS`` dict in the project settings, read here and nowhere else.

    WEBSOCKETS = {"TOKEN_EXPIRY_SECONDS": 120}

Keys that are not set take the defaults below. Values are validated by the system checks in ``checks.py``, so a
typo or a wrong type shows up in ``manage.py check`` instead of in the middle of a request.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # Path prefix of the WebSocket view; a route key becomes POST <URL_PREFIX><route> ("$connect" -> /ws/connect).
    "URL_PREFIX": "/ws/",
    # How long an issued WebSocket token may be used to connect, in seconds.
    "TOKEN_EXPIRY_SECONDS": 60,
    # True: a token connects only together with the session cookie it was issued to (the WebSocket domain must
    # receive the site's session cookie). False: the token alone authenticates; a session cookie that does arrive
    # must still be the one the token was issued to.
    "TOKEN_REQUIRES_SESSION": True,
    # Tokens one user may request per window; None lifts the limit.
    "TOKEN_RATE_LIMIT_ATTEMPTS": 30,
    "TOKEN_RATE_LIMIT_WINDOW_SECONDS": 60,
    # Connection attempts (refused ones included) per client IP and per user within the window; None lifts a limit.
    "CONNECT_RATE_LIMIT_IP_ATTEMPTS": 60,
    "CONNECT_RATE_LIMIT_USER_ATTEMPTS": 30,
    "CONNECT_RATE_LIMIT_WINDOW_SECONDS": 60,
    # Messages one connection may send per window (a fixed window that starts with its first message); more get a
    # 429 with Retry-After, run no handler and write nothing. None lifts the limit. A view can set its own
    # (WebSocketView.message_rate_limit and message_rate_limit_window_seconds).
    "MESSAGE_RATE_LIMIT": 120,
    "MESSAGE_RATE_LIMIT_WINDOW_SECONDS": 60,
    # The per-IP limit counts an IPv6 client by its network of this prefix length (a home or a server usually gets
    # a whole /64); 128 counts each IPv6 address apart. IPv4-mapped IPv6 addresses count as their IPv4 address.
    "CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH": 64,
    # Origins a browser may open a connection from: "https://example.com", "http://localhost:8000", or
    # "https://.example.com" for the domain and all its subdomains. None switches the check off; with a list, a
    # $connect without an Origin header is refused.
    "ALLOWED_ORIGINS": None,
    # Channel names a client may ask for (?channel=) or a handler may move to: a regular expression that must match
    # the whole name, and a length of at most the column's 128 characters.
    "CHANNEL_NAME_PATTERN": r"[\w.:@-]+",
    "CHANNEL_NAME_MAX_LENGTH": 128,
    # HTTP integrations without the X-WebSocket-Source-Ip header: how many proxies in front of Django append to
    # X-Forwarded-For. The client is the address the outermost trusted proxy saw; 0 means REMOTE_ADDR.
    "TRUSTED_PROXY_HOPS": 0,
    # Management API endpoint to use instead of https://{api_id}.execute-api.{region}.amazonaws.com/{stage};
    # the local gateway and test stubs set it. None means "derive it from the gateway".
    "MANAGEMENT_ENDPOINT_URL": None,
    # The URL browsers open the WebSocket on: wss://{api_id}.execute-api.{region}.amazonaws.com/{stage}, a custom
    # domain (wss://ws.example.com), or a local gateway (ws://127.0.0.1:8001). Pages get it through
    # websockets_app.mixins.WebSocketContextMixin; None until the project sets it.
    "CLIENT_URL": None,
    # Region of the API Gateway APIs. None means the Lambda runtime's AWS_REGION (or AWS_DEFAULT_REGION).
    "AWS_REGION": None,
    # Most posts in flight at once during one send; also the size of the HTTP connection pool per endpoint.
    # At ~20 ms per post, 200 in flight allow ~10,000 posts/s, API Gateway's default account limit.
    "SEND_CONCURRENCY": 200,
    # Tries per connection when API Gateway throttles (429) or no connection can be made, with exponential
    # backoff and jitter in between (a post that may have arrived is never tried again).
    "SEND_MAX_ATTEMPTS": 6,
    # Seconds one send may take in all (every post, retry and backoff); posts still out then are reported
    # "unknown", posts never started "failed", both with the code DeadlineExceeded. Inside a Lambda invocation
    # entered through websockets_app.messaging.lambda_context, a send also ends 2 s before the invocation would
    # time out. 10 s stays well inside the 29 s of API Gateway's integrations and the functions' timeouts.
    "SEND_TIMEOUT_SECONDS": 10,
    # SQS queue URL for very large sends; None sends everything from the calling process.
    "FANOUT_QUEUE_URL": None,
    # With a FANOUT_QUEUE_URL, sends to more connections than this are handed to the queue in batches.
    "FANOUT_THRESHOLD": 5000,
    # Most connection ids per queue message (fewer when the payload is large: a message stays under 256 KiB).
    "FANOUT_BATCH_SIZE": 1000,
}


class WebSocketSettings:
    """Attribute access to the merged settings: ``ws_settings.TOKEN_EXPIRY_SECONDS``."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, "WEBSOCKETS", {})
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown WEBSOCKETS setting: {name}")
        if self._cache is None:
            self._cache = {**DEFAULTS, **{k: v for k, v in self.user_settings.items() if k in DEFAULTS}}
        return self._cache[name]

    @property
    def region(self) -> str:
        """The configured region, else the one the runtime reports; empty when neither is known."""
        return self.AWS_REGION or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""

    def reload(self) -> None:
        self._cache = None


ws_settings = WebSocketSettings()


@receiver(setting_changed)
def _reload_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "WEBSOCKETS":
        ws_settings.reload()
