"""Field validators for the app's models: each one raises a ValidationError that names the rule broken."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

RESERVED_ROUTE_KEYS = frozenset({"$connect", "$disconnect", "$default"})

# A custom route key becomes the last path segment of the WebSocket URL (ws/<slug:route>), so it must be a slug.
_ROUTE_KEY = re.compile(r"[-a-zA-Z0-9_]{1,64}\Z")
_DOMAIN = re.compile(r"(?=.{1,253}\Z)((?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}\Z")

# AWS tag limits (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html).
MAX_TAGS = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256


def validate_route_key(value: str) -> None:
    if value in RESERVED_ROUTE_KEYS:
        raise ValidationError("%(value)s is created with every API; choose another route key.", params={"value": value})
    if not _ROUTE_KEY.match(value):
        raise ValidationError("A route key may use only letters, digits, '-' and '_' (at most 64 characters).")


def validate_domain_name(value: str) -> None:
    if not _DOMAIN.match(value):
        raise ValidationError("Enter a bare lower-case host name such as ws.example.com (no scheme, port or path).")


def validate_tags(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError('Tags must be a JSON object such as {"team": "web"}.')
    if len(value) > MAX_TAGS:
        raise ValidationError(f"AWS allows at most {MAX_TAGS} tags.")
    for key, tag_value in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
            raise ValidationError(f"Each tag key must be a string of 1 to {MAX_TAG_KEY_LENGTH} characters.")
        if key.lower().startswith("aws:"):
            raise ValidationError("Tag keys starting with 'aws:' are reserved by AWS.")
        if not isinstance(tag_value, str) or len(tag_value) > MAX_TAG_VALUE_LENGTH:
            raise ValidationError(f"Each tag value must be a string of at most {MAX_TAG_VALUE_LENGTH} characters.")


# API Gateway connection ids are short base64-like strings ("L0SM9cOFvHcCIhw="); anything else is refused.
_CONNECTION_ID = re.compile(r"[A-Za-z0-9+/=_-]{1,128}\Z")
# Channel names: printable, no control characters, at most the column's 128 characters.
_CHANNEL_NAME = re.compile(r"[^\x00-\x1f\x7f]{0,128}\Z")


def is_valid_connection_id(value: object) -> bool:
    return isinstance(value, str) and bool(_CONNECTION_ID.match(value))


def validate_channel_name(value: str) -> None:
    if not _CHANNEL_NAME.match(value):
        raise ValidationError("A channel name is at most 128 printable characters.")
