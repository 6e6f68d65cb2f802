"""System checks: misconfiguration is reported by ``manage.py check``, not discovered at request time."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Info, Tags, Warning, register
from django.db import connections

from websockets_app.conf import (
    DEFAULTS,
    LEGACY_KEY_MAXIMUM,
    LEGACY_KEYS,
    LEGACY_PROJECT_SETTINGS,
    UNREAD_LEGACY_KEYS,
    UNREAD_LEGACY_SETTINGS,
    is_positive_int,
    legacy_region_source,
)
from websockets_app.limits import MAX_MESSAGE_BYTES, describe_bytes
from websockets_app.origins import Origin
from websockets_app.validators import CHANNEL_NAME_COLUMN_LENGTH

CHECK_ID = "websockets_app"


def _error(number: int, msg: str, hint: str | None = None) -> Error:
    return Error(msg, hint=hint, id=f"{CHECK_ID}.E{number:03d}")


def _is_int_between(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_http_url(value: Any, schemes: frozenset[str] = frozenset({"http", "https"})) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return parts is not None and parts.scheme in schemes and bool(parts.netloc)


@register(Tags.compatibility)
def check_websockets_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(settings, "WEBSOCKETS", {})
    if not isinstance(raw, dict):
        return [_error(1, "settings.WEBSOCKETS must be a dict.")]

    messages: list[CheckMessage] = []
    # The original package's lower-case keys are reported by check_legacy_settings, each with its replacement.
    for key in sorted(set(raw) - set(DEFAULTS) - set(LEGACY_KEYS) - set(UNREAD_LEGACY_KEYS), key=str):
        messages.append(
            Warning(
                f"settings.WEBSOCKETS has an unknown key {key!r}; it is ignored.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id=f"{CHECK_ID}.W001",
            )
        )

    prefix = raw.get("URL_PREFIX", DEFAULTS["URL_PREFIX"])
    if not (isinstance(prefix, str) and prefix.startswith("/") and prefix.endswith("/") and "//" not in prefix):
        messages.append(
            _error(2, "WEBSOCKETS['URL_PREFIX'] must be a path that starts and ends with '/'.", 'e.g. "/ws/"')
        )

    expiry = raw.get("TOKEN_EXPIRY_SECONDS", DEFAULTS["TOKEN_EXPIRY_SECONDS"])
    if isinstance(expiry, bool) or not isinstance(expiry, int) or expiry <= 0:
        messages.append(_error(3, "WEBSOCKETS['TOKEN_EXPIRY_SECONDS'] must be a positive integer."))

    endpoint = raw.get("MANAGEMENT_ENDPOINT_URL")
    if endpoint is not None and not _is_http_url(endpoint):
        messages.append(_error(4, "WEBSOCKETS['MANAGEMENT_ENDPOINT_URL'] must be an http(s) URL or None."))

    region = raw.get("AWS_REGION")
    if region is not None and not (isinstance(region, str) and region):
        messages.append(_error(5, "WEBSOCKETS['AWS_REGION'] must be a region name such as 'eu-west-1', or None."))

    client_url = raw.get("CLIENT_URL")
    if client_url is not None and not _is_websocket_url(client_url):
        messages.append(
            _error(
                18,
                "WEBSOCKETS['CLIENT_URL'] must be a ws:// or wss:// URL, or None.",
                "e.g. wss://abc123.execute-api.eu-west-1.amazonaws.com/production or ws://127.0.0.1:8001",
            )
        )

    messages.extend(_messaging_errors(raw))
    messages.extend(_security_errors(raw))
    return messages


def _is_websocket_url(value: Any) -> bool:
    # Browsers refuse a WebSocket URL with a fragment, so one here could never be opened.
    return _is_http_url(value, frozenset({"ws", "wss"})) and "#" not in value


def _setting(raw: dict[str, Any], key: str) -> Any:
    return raw.get(key, DEFAULTS[key])


def _security_errors(raw: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not isinstance(_setting(raw, "TOKEN_REQUIRES_SESSION"), bool):
        messages.append(_error(11, "WEBSOCKETS['TOKEN_REQUIRES_SESSION'] must be True or False."))
    for key in ("TOKEN_RATE_LIMIT_ATTEMPTS", "CONNECT_RATE_LIMIT_IP_ATTEMPTS", "CONNECT_RATE_LIMIT_USER_ATTEMPTS"):
        value = _setting(raw, key)
        if value is not None and not _is_int_between(value, 1, 10**6):
            messages.append(_error(12, f"WEBSOCKETS['{key}'] must be a positive integer, or None for no limit."))
    for key in ("TOKEN_RATE_LIMIT_WINDOW_SECONDS", "CONNECT_RATE_LIMIT_WINDOW_SECONDS"):
        if not _is_int_between(_setting(raw, key), 1, 86400):
            messages.append(_error(13, f"WEBSOCKETS['{key}'] must be a number of seconds from 1 to 86400."))
    if not _is_int_between(_setting(raw, "CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH"), 1, 128):
        messages.append(
            _error(
                22, "WEBSOCKETS['CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH'] must be an integer from 1 to 128.", "e.g. 64"
            )
        )
    origins = _setting(raw, "ALLOWED_ORIGINS")
    if origins is not None and (
        not isinstance(origins, list | tuple) or not all(isinstance(o, str) and Origin.parse(o) for o in origins)
    ):
        messages.append(
            _error(
                14,
                "WEBSOCKETS['ALLOWED_ORIGINS'] must be None or a list of origins (scheme://host[:port]).",
                'e.g. ["https://example.com", "https://.example.com", "http://localhost:8000"]',
            )
        )
    pattern = _setting(raw, "CHANNEL_NAME_PATTERN")
    try:
        re.compile(pattern)
    except (TypeError, re.error):
        messages.append(_error(15, "WEBSOCKETS['CHANNEL_NAME_PATTERN'] must be a valid regular expression."))
    if not _is_int_between(_setting(raw, "CHANNEL_NAME_MAX_LENGTH"), 1, CHANNEL_NAME_COLUMN_LENGTH):
        messages.append(
            _error(16, f"WEBSOCKETS['CHANNEL_NAME_MAX_LENGTH'] must be from 1 to {CHANNEL_NAME_COLUMN_LENGTH}.")
        )
    message_limit = _setting(raw, "MESSAGE_RATE_LIMIT")
    if message_limit is not None and not _is_int_between(message_limit, 1, 10**6):
        messages.append(
            _error(19, "WEBSOCKETS['MESSAGE_RATE_LIMIT'] must be a positive integer, or None for no limit.")
        )
    if not _is_int_between(_setting(raw, "MESSAGE_RATE_LIMIT_WINDOW_SECONDS"), 1, 86400):
        messages.append(
            _error(20, "WEBSOCKETS['MESSAGE_RATE_LIMIT_WINDOW_SECONDS'] must be a number of seconds from 1 to 86400.")
        )
    if not _is_int_between(_setting(raw, "TRUSTED_PROXY_HOPS"), 0, 10):
        messages.append(_error(17, "WEBSOCKETS['TRUSTED_PROXY_HOPS'] must be an integer from 0 to 10."))
    return messages


@register(Tags.compatibility)
def check_rate_limit_locking(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Rate limits are exact only where a check-then-write can be serialised (websockets_app.locks)."""
    connection = connections["default"]
    if connection.vendor == "postgresql":
        return []
    if connection.vendor == "sqlite" and connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") == (
        "IMMEDIATE"
    ):
        return []
    return [
        Warning(
            "Connection and token rate limits may admit more than their limit under concurrent requests on this "
            "database.",
            hint='Use PostgreSQL, or SQLite with OPTIONS {"transaction_mode": "IMMEDIATE"}.',
            id=f"{CHECK_ID}.W003",
        )
    ]


@register(Tags.security, deploy=True)
def check_allowed_origins(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(settings, "WEBSOCKETS", {})
    if isinstance(raw, dict) and raw.get("ALLOWED_ORIGINS") is None:
        return [
            Warning(
                "WEBSOCKETS['ALLOWED_ORIGINS'] is not set: a page on any site can open WebSocket connections.",
                hint="List the site's origins, e.g. WEBSOCKETS_ALLOWED_ORIGINS=https://example.com.",
                id=f"{CHECK_ID}.W002",
            )
        ]
    return []


def _messaging_errors(raw: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not _is_int_between(raw.get("SEND_CONCURRENCY", DEFAULTS["SEND_CONCURRENCY"]), 1, 1000):
        messages.append(_error(6, "WEBSOCKETS['SEND_CONCURRENCY'] must be an integer from 1 to 1000."))
    if not _is_int_between(raw.get("SEND_MAX_ATTEMPTS", DEFAULTS["SEND_MAX_ATTEMPTS"]), 1, 20):
        messages.append(_error(7, "WEBSOCKETS['SEND_MAX_ATTEMPTS'] must be an integer from 1 to 20."))
    timeout = raw.get("SEND_TIMEOUT_SECONDS", DEFAULTS["SEND_TIMEOUT_SECONDS"])
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0.1 <= timeout <= 900:
        messages.append(
            _error(
                21,
                "WEBSOCKETS['SEND_TIMEOUT_SECONDS'] must be a number of seconds from 0.1 to 900.",
                "Keep it below the Lambda function's timeout; the default is 10.",
            )
        )
    rate_limit = raw.get("SEND_RATE_LIMIT_PER_SECOND")
    if rate_limit is not None and not _is_int_between(rate_limit, 1, 1_000_000):
        messages.append(
            _error(
                32,
                "WEBSOCKETS['SEND_RATE_LIMIT_PER_SECOND'] must be an integer from 1 to 1000000, or None for no cap.",
                "API Gateway's default account limit is 10,000 requests/s, shared by every API and post.",
            )
        )
    queue_url = raw.get("FANOUT_QUEUE_URL")
    if queue_url is not None and not _is_http_url(queue_url):
        messages.append(
            _error(
                8,
                "WEBSOCKETS['FANOUT_QUEUE_URL'] must be an SQS queue URL or None.",
                "e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/websocket-fanout",
            )
        )
    if not _is_int_between(raw.get("FANOUT_THRESHOLD", DEFAULTS["FANOUT_THRESHOLD"]), 1, 10**9):
        messages.append(_error(9, "WEBSOCKETS['FANOUT_THRESHOLD'] must be a positive integer."))
    if not _is_int_between(raw.get("FANOUT_BATCH_SIZE", DEFAULTS["FANOUT_BATCH_SIZE"]), 1, 10000):
        messages.append(_error(10, "WEBSOCKETS['FANOUT_BATCH_SIZE'] must be an integer from 1 to 10000."))
    return messages


# -- settings of django-aws-api-gateway-websockets --------------------------------------------------------------------


def _replacement(keys: tuple[str, ...]) -> str:
    return " and ".join(f"WEBSOCKETS['{key}']" for key in keys)


@register(Tags.compatibility)
def check_legacy_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every setting name of the original package: honoured with a deprecation warning naming its replacement, or
    reported as not read and why. Messages never include a value."""
    raw = getattr(settings, "WEBSOCKETS", {})
    raw = raw if isinstance(raw, dict) else {}
    messages: list[CheckMessage] = []
    region_source = legacy_region_source()
    for name, key in LEGACY_PROJECT_SETTINGS.items():
        if not hasattr(settings, name):
            continue
        if key in raw:
            state = f"it is ignored because WEBSOCKETS['{key}'] is set"
        elif key == "AWS_REGION" and region_source not in (None, name):
            state = f"it is ignored because {region_source} is set and is read first"
        elif not (isinstance(getattr(settings, name), str) and getattr(settings, name)):
            state = "it is empty or not a string, so it is ignored"
        else:
            state = f"it is read as WEBSOCKETS['{key}'] for now" + _LEGACY_SCOPE.get(name, "")
        messages.append(
            Warning(
                f"settings.{name} is the original package's name (django-aws-api-gateway-websockets); {state}.",
                hint=f"Rename it to WEBSOCKETS['{key}'].",
                id=f"{CHECK_ID}.W010",
            )
        )
    for key, replacement in LEGACY_KEYS.items():
        if key not in raw:
            continue
        shadowed = [new for new in replacement if new in raw]
        if not is_positive_int(raw[key], LEGACY_KEY_MAXIMUM[key]):
            messages.append(
                _error(
                    30,
                    f"WEBSOCKETS['{key}'] (the original package's name) must be a whole number from 1 to "
                    f"{LEGACY_KEY_MAXIMUM[key]}; it is ignored until fixed.",
                    f"Replace it with {_replacement(replacement)}.",
                )
            )
            continue
        state = (
            f"it is ignored where {_replacement(tuple(shadowed))} is set"
            if shadowed
            else f"it is read as {_replacement(replacement)} for now"
        )
        messages.append(
            Warning(
                f"WEBSOCKETS['{key}'] is the original package's name; {state}.",
                hint=f"Replace it with {_replacement(replacement)}{_LEGACY_UNITS.get(key, '')}.",
                id=f"{CHECK_ID}.W010",
            )
        )
    for key, reason in UNREAD_LEGACY_KEYS.items():
        if key in raw:
            messages.append(
                Warning(
                    f"WEBSOCKETS['{key}'] (the original package's setting) is not read.",
                    hint=f"Remove it: {reason}.",
                    id=f"{CHECK_ID}.W012",
                )
            )
    for name in UNREAD_LEGACY_SETTINGS:
        if hasattr(settings, name):
            messages.append(
                Warning(
                    f"settings.{name} is not read: this app never takes AWS credentials from the settings file.",
                    hint=(
                        "Keys in a settings file end up in version control, error reports and settings dumps, and "
                        "long-lived keys outlive their need. Remove it; give the Lambda function or the machine an "
                        "IAM role, or use the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables or a "
                        "named profile (WEBSOCKETS['AWS_PROFILE']). If another app reads it (django-storages does), "
                        "add websockets_app.W011 to SILENCED_SYSTEM_CHECKS instead."
                    ),
                    id=f"{CHECK_ID}.W011",
                )
            )
    profile = raw.get("AWS_PROFILE")
    if profile is not None and not (isinstance(profile, str) and profile):
        messages.append(_error(31, "WEBSOCKETS['AWS_PROFILE'] must be a profile name, or None."))
    return messages


_LEGACY_SCOPE = {"AWS_IAM_PROFILE": " (by provisioning only: sends use the runtime's credentials)"}
_LEGACY_UNITS = {
    "token_rate_limit_per_minute": " (the window is 60 seconds unless TOKEN_RATE_LIMIT_WINDOW_SECONDS is set)",
    "rate_limit_window_minutes": " (in seconds: minutes x 60)",
}


# View attributes of the original package that this app has no use for, and why.
_LEGACY_VIEW_ATTRIBUTES = {
    "ALLOW_UNLISTED_CHANNELS": "There is no channel permission table: decide who may join in connect() or a handler.",
    "CHECK_PERMISSIONS_ON_CONNECT": "permissions_required / all_permissions_required are always checked on connect.",
    "CHECK_CONNECT_USERAGENT": "Requests are trusted from API Gateway's request context or the integration secret.",
    "expected_useragent_prefix": "Requests are trusted from API Gateway's request context or the integration secret.",
    "required_connection_headers": "Use required_headers (HTTP integrations; the Lambda event is trusted as it is).",
    "MAX_BODY_SIZE": f"Messages over API Gateway's {describe_bytes(MAX_MESSAGE_BYTES)} are refused (400) for any view.",
    "EXCEPTION_MAIL_INTERVAL": "No mail is sent: see SEND_EXCEPTION_MAIL.",
}


@register(Tags.compatibility)
def check_view_legacy_attributes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A ported view that still sets an attribute only the original package reads learns that it has no effect here;
    one that asks for exception mail, that none is sent and what to use instead."""
    from websockets_app.views import WebSocketView

    messages: list[CheckMessage] = []
    pending = list(WebSocketView.__subclasses__())
    while pending:
        view = pending.pop()
        pending.extend(view.__subclasses__())
        for name in sorted(set(vars(view)) & set(_LEGACY_VIEW_ATTRIBUTES)):
            messages.append(
                Info(
                    f"{view.__module__}.{view.__qualname__}.{name} is an attribute of the original package's view; it "
                    "has no effect here.",
                    hint=_LEGACY_VIEW_ATTRIBUTES[name],
                    id=f"{CHECK_ID}.I002",
                )
            )
        if vars(view).get("SEND_EXCEPTION_MAIL"):
            messages.append(
                Info(
                    f"{view.__module__}.{view.__qualname__}.SEND_EXCEPTION_MAIL is set, but no mail is ever sent.",
                    hint=(
                        "A failing handler is logged once (logger 'websockets_app.views', with its connection and "
                        "handler) and reported through got_request_exception. To be mailed, add "
                        "django.utils.log.AdminEmailHandler to that logger; then remove the attribute."
                    ),
                    id=f"{CHECK_ID}.I001",
                )
            )
    return sorted(messages, key=lambda message: message.msg)


# Replay and presence settings (websockets_app.messaging.replay, websockets_app.presence): bound, so a typo cannot
# make a channel's history or a resume's answer unbounded.
REPLAY_SETTING_BOUNDS: dict[str, tuple[int, int]] = {
    "REPLAY_HISTORY_LENGTH": (1, 100_000),
    "REPLAY_HISTORY_MAX_AGE_SECONDS": (60, 30 * 86400),
    "REPLAY_MAX_MESSAGES": (1, 10_000),
    "REPLAY_RESUMES_PER_CONNECTION": (1, 1000),
}


@register(Tags.compatibility)
def check_replay_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(settings, "WEBSOCKETS", {})
    if not isinstance(raw, dict):
        return []  # check_websockets_settings reports it
    messages: list[CheckMessage] = []
    for number, (key, (low, high)) in enumerate(REPLAY_SETTING_BOUNDS.items(), start=40):
        if not _is_int_between(raw.get(key, DEFAULTS[key]), low, high):
            messages.append(_error(number, f"WEBSOCKETS['{key}'] must be an integer from {low} to {high}."))
    if not isinstance(raw.get("PRESENCE_SWEEP_NOTICES", DEFAULTS["PRESENCE_SWEEP_NOTICES"]), bool):
        messages.append(_error(44, "WEBSOCKETS['PRESENCE_SWEEP_NOTICES'] must be True or False."))
    return messages
