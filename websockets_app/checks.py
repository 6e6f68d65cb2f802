"""System checks: misconfiguration is reported by ``manage.py check``, not discovered at request time."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from websockets_app.conf import DEFAULTS

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
    for key in sorted(set(raw) - set(DEFAULTS)):
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

    messages.extend(_messaging_errors(raw))
    return messages


def _messaging_errors(raw: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not _is_int_between(raw.get("SEND_CONCURRENCY", DEFAULTS["SEND_CONCURRENCY"]), 1, 1000):
        messages.append(_error(6, "WEBSOCKETS['SEND_CONCURRENCY'] must be an integer from 1 to 1000."))
    if not _is_int_between(raw.get("SEND_MAX_ATTEMPTS", DEFAULTS["SEND_MAX_ATTEMPTS"]), 1, 20):
        messages.append(_error(7, "WEBSOCKETS['SEND_MAX_ATTEMPTS'] must be an integer from 1 to 20."))
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
