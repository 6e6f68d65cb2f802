"""The app's settings: one ``WEBSOCKETS`` dict in the project settings, read here and nowhere else.

    WEBSOCKETS = {"TOKEN_EXPIRY_SECONDS": 120}

Keys that are not set take the defaults below. Values are validated by the system checks in ``checks.py``, so a
typo or a wrong type shows up in ``manage.py check`` instead of in the middle of a request.
"""

from __future__ import annotations

import os
from typing import Any, TypeGuard

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
    # Named profile (~/.aws/config) for provisioning (the admin actions and commands, run where an operator's
    # config files exist). None: botocore's usual chain. Sends always use the runtime's chain (the Lambda role),
    # where no profile exists.
    "AWS_PROFILE": None,
    # Most posts in flight at once during one send; also the size of the HTTP connection pool per endpoint.
    # Sized for API Gateway's default account limit of 10,000 posts/s when a post takes 20 ms (the latency
    # tests/bench/fanout.py's stub gives each post; measured rates: docs/performance.md).
    "SEND_CONCURRENCY": 200,
    # Tries per connection when API Gateway throttles (429) or no connection can be made, with exponential
    # backoff and jitter in between (a post that may have arrived is never tried again).
    "SEND_MAX_ATTEMPTS": 6,
    # Seconds one send may take in all (every post, retry and backoff); posts still out then are reported
    # "unknown", posts never started "failed", both with the code DeadlineExceeded. Inside a Lambda invocation
    # entered through websockets_app.messaging.lambda_context, a send also ends 2 s before the invocation would
    # time out. 10 s stays well inside the 29 s of API Gateway's integrations and the functions' timeouts.
    "SEND_TIMEOUT_SECONDS": 10,
    # Most posts a second this process sends to the Management API (None: no cap). API Gateway's account throttle
    # (10,000 requests/s by default) is shared by the HTTP API, the WebSocket API and every post; the fan-out
    # function gets its share from template.yaml's BroadcastBudgetPerSecond. Throttling (429) slows the sender
    # down below it either way (websockets_app/messaging/transports/pacing.py).
    "SEND_RATE_LIMIT_PER_SECOND": None,
    # SQS queue URL for very large sends; None sends everything from the calling process.
    "FANOUT_QUEUE_URL": None,
    # With a FANOUT_QUEUE_URL, sends to more connections than this are handed to the queue in batches.
    "FANOUT_THRESHOLD": 5000,
    # Most connection ids per queue message (fewer when the payload is large: a message stays under 256 KiB).
    "FANOUT_BATCH_SIZE": 1000,
    # Channels that survive reconnects (websockets_app.messaging.replay, docs/replay.md). Each channel keeps its newest
    # REPLAY_HISTORY_LENGTH replayable messages, none older than REPLAY_HISTORY_MAX_AGE_SECONDS; older ones are
    # never replayed and are deleted by trimChannelHistory (the "history" cleanup job).
    "REPLAY_HISTORY_LENGTH": 500,
    "REPLAY_HISTORY_MAX_AGE_SECONDS": 86400,
    # Most messages one resume answers with; a client that missed more gets a gap notice and reloads.
    "REPLAY_MAX_MESSAGES": 200,
    # Resumes one connection may ask for (a client resumes once per reconnect); more get a 429.
    "REPLAY_RESUMES_PER_CONNECTION": 5,
    # True: the stale sweep (markStaleWebSocketSessions) posts the presence leave notices that missed $disconnects
    # did not. Set it when a view has presence_notices = True (websockets_app.presence).
    "PRESENCE_SWEEP_NOTICES": False,
}


class WebSocketSettings:
    """Attribute access to the merged settings: ``ws_settings.TOKEN_EXPIRY_SECONDS``."""

    # The types checks.py holds each setting to; declared only (``__getattr__`` serves the values).
    URL_PREFIX: str
    TOKEN_EXPIRY_SECONDS: int
    TOKEN_REQUIRES_SESSION: bool
    TOKEN_RATE_LIMIT_ATTEMPTS: int | None
    TOKEN_RATE_LIMIT_WINDOW_SECONDS: int
    CONNECT_RATE_LIMIT_IP_ATTEMPTS: int | None
    CONNECT_RATE_LIMIT_USER_ATTEMPTS: int | None
    CONNECT_RATE_LIMIT_WINDOW_SECONDS: int
    MESSAGE_RATE_LIMIT: int | None
    MESSAGE_RATE_LIMIT_WINDOW_SECONDS: int
    CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH: int
    ALLOWED_ORIGINS: list[str] | tuple[str, ...] | None
    CHANNEL_NAME_PATTERN: str
    CHANNEL_NAME_MAX_LENGTH: int
    TRUSTED_PROXY_HOPS: int
    MANAGEMENT_ENDPOINT_URL: str | None
    CLIENT_URL: str | None
    AWS_REGION: str | None
    AWS_PROFILE: str | None
    SEND_CONCURRENCY: int
    SEND_MAX_ATTEMPTS: int
    SEND_TIMEOUT_SECONDS: float
    SEND_RATE_LIMIT_PER_SECOND: int | None
    FANOUT_QUEUE_URL: str | None
    FANOUT_THRESHOLD: int
    FANOUT_BATCH_SIZE: int
    REPLAY_HISTORY_LENGTH: int
    REPLAY_HISTORY_MAX_AGE_SECONDS: int
    REPLAY_MAX_MESSAGES: int
    REPLAY_RESUMES_PER_CONNECTION: int
    PRESENCE_SWEEP_NOTICES: bool

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
            explicit = {k: v for k, v in self.user_settings.items() if k in DEFAULTS}
            # The original package's names fill in only what the new keys leave unset.
            self._cache = {**DEFAULTS, **legacy_values(explicit), **explicit}
        return self._cache[name]

    @property
    def region(self) -> str:
        """The configured region, else the one the runtime reports; empty when neither is known."""
        return self.AWS_REGION or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""

    def reload(self) -> None:
        self._cache = None


ws_settings = WebSocketSettings()


# -- settings of django-aws-api-gateway-websockets (the package this app replaces) ------------------------------------
# Each name the original reads is either honoured here (translated to its replacement, with a deprecation warning
# from checks.py) or reported by checks.py as not read. None is ever silently ignored.

# Project-level settings that are honoured, and the WEBSOCKETS key that replaces each (first match wins).
LEGACY_PROJECT_SETTINGS: dict[str, str] = {
    "AWS_GATEWAY_REGION_NAME": "AWS_REGION",
    "AWS_REGION_NAME": "AWS_REGION",
    "AWS_IAM_PROFILE": "AWS_PROFILE",
}
# Lower-case WEBSOCKETS keys that are honoured, and the keys that replace them.
LEGACY_KEYS: dict[str, tuple[str, ...]] = {
    "token_expiry_seconds": ("TOKEN_EXPIRY_SECONDS",),
    # "per minute": the window is 60 seconds unless TOKEN_RATE_LIMIT_WINDOW_SECONDS says otherwise.
    "token_rate_limit_per_minute": ("TOKEN_RATE_LIMIT_ATTEMPTS", "TOKEN_RATE_LIMIT_WINDOW_SECONDS"),
    # The original applies one cap to the client IP and to the user alike.
    "rate_limit_max_attempts": ("CONNECT_RATE_LIMIT_IP_ATTEMPTS", "CONNECT_RATE_LIMIT_USER_ATTEMPTS"),
    "rate_limit_window_minutes": ("CONNECT_RATE_LIMIT_WINDOW_SECONDS",),
}
# Largest value each honoured key accepts: the replacement's own bound (windows up to a day).
LEGACY_KEY_MAXIMUM: dict[str, int] = {
    "token_expiry_seconds": 86400,
    "token_rate_limit_per_minute": 10**6,
    "rate_limit_max_attempts": 10**6,
    "rate_limit_window_minutes": 1440,
}
# Lower-case WEBSOCKETS keys that are not read, and what does their job here.
UNREAD_LEGACY_KEYS: dict[str, str] = {
    "gateway_secret": (
        "each ApiGateway row has its own generated integration secret (HTTP integrations), and Lambda events are "
        "trusted from their request context; run 'Update API Gateway' so the integrations send it"
    ),
    "allowed_integration_hosts": (
        "integration URLs are set only by staff in the admin and must be https:// URLs (checked before any AWS call)"
    ),
    "push_changes_to_aws": (
        "saving a row never changes AWS; the admin actions and the createApiGateway/updateApiGateway commands do"
    ),
}
# Project-level settings that are deliberately not read.
UNREAD_LEGACY_SETTINGS: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "AWS credentials",
    "AWS_SECRET_ACCESS_KEY": "AWS credentials",
}


def is_positive_int(value: object, maximum: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= maximum


def legacy_region_source() -> str | None:
    """The first of the original's region settings that holds a region name, or None."""
    for name in ("AWS_GATEWAY_REGION_NAME", "AWS_REGION_NAME"):
        value = getattr(settings, name, None)
        if isinstance(value, str) and value:
            return name
    return None


def legacy_values(explicit: dict[str, Any]) -> dict[str, Any]:
    """The values the original package's settings give to the keys ``explicit`` (the new WEBSOCKETS keys) leaves
    unset. A legacy value that is not valid is left out (checks.py reports it) and the default applies."""
    values: dict[str, Any] = {}
    region = legacy_region_source()
    if region is not None:
        values["AWS_REGION"] = getattr(settings, region)
    profile = getattr(settings, "AWS_IAM_PROFILE", None)
    if isinstance(profile, str) and profile:
        values["AWS_PROFILE"] = profile
    raw = getattr(settings, "WEBSOCKETS", {})
    raw = raw if isinstance(raw, dict) else {}
    for key, maximum in LEGACY_KEY_MAXIMUM.items():
        value = raw.get(key)
        if not is_positive_int(value, maximum):
            continue
        if key == "token_rate_limit_per_minute":
            values.update(TOKEN_RATE_LIMIT_ATTEMPTS=value, TOKEN_RATE_LIMIT_WINDOW_SECONDS=60)
        elif key == "rate_limit_window_minutes":
            values["CONNECT_RATE_LIMIT_WINDOW_SECONDS"] = value * 60
        else:
            values.update(dict.fromkeys(LEGACY_KEYS[key], value))
    return {key: value for key, value in values.items() if key not in explicit}


LEGACY_SETTING_NAMES = frozenset({"WEBSOCKETS", *LEGACY_PROJECT_SETTINGS, *UNREAD_LEGACY_SETTINGS})


@receiver(setting_changed)
def _reload_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting in LEGACY_SETTING_NAMES:
        ws_settings.reload()
