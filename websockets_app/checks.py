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
    if endpoint is not None:
        parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
        if parts is None or parts.scheme not in {"http", "https"} or not parts.netloc:
            messages.append(_error(4, "WEBSOCKETS['MANAGEMENT_ENDPOINT_URL'] must be an http(s) URL or None."))

    region = raw.get("AWS_REGION")
    if region is not None and not (isinstance(region, str) and region):
        messages.append(_error(5, "WEBSOCKETS['AWS_REGION'] must be a region name such as 'eu-west-1', or None."))

    return messages
