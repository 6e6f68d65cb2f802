"""Field validators for the app's models: each one raises a ValidationError that names the rule broken."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from websockets_app.conf import ws_settings
from websockets_app.limits import BUILTIN_ROUTE_KEYS, ROUTE_KEY_PATTERN, STAGE_NAME_MAX_LENGTH, STAGE_NAME_PATTERN

RESERVED_ROUTE_KEYS = frozenset(BUILTIN_ROUTE_KEYS)
_DOMAIN = re.compile(r"(?=.{1,253}\Z)((?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}\Z")
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"
_PARTITION = r"aws(?:-[a-z]+)*"
_LAMBDA_ARN = re.compile(
    rf"arn:{_PARTITION}:lambda:{_REGION}:\d{{12}}:function:[A-Za-z0-9_-]{{1,64}}(?::[A-Za-z0-9_$-]{{1,128}})?\Z"
)
_CERTIFICATE_ARN = re.compile(rf"arn:{_PARTITION}:acm:{_REGION}:\d{{12}}:certificate/[0-9a-f-]{{36}}\Z")
_HOSTED_ZONE_ID = re.compile(r"[A-Z0-9]{1,32}\Z")

# AWS tag limits (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html).
MAX_TAGS = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256


def validate_route_key(value: str) -> None:
    if value in RESERVED_ROUTE_KEYS:
        raise ValidationError("%(value)s is created with every API; choose another route key.", params={"value": value})
    if not ROUTE_KEY_PATTERN.match(value):
        raise ValidationError("A route key may use only letters, digits, '-' and '_' (at most 64 characters).")


def validate_stage_name(value: object) -> None:
    if not isinstance(value, str) or len(value) > STAGE_NAME_MAX_LENGTH:
        raise ValidationError(f"A stage name has at most {STAGE_NAME_MAX_LENGTH} characters.")
    if not STAGE_NAME_PATTERN.match(value):
        raise ValidationError("A stage name may use only letters, digits, '-' and '_'.")


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
# The WebSocketSession.channel_name column.
CHANNEL_NAME_COLUMN_LENGTH = 128


def is_valid_connection_id(value: object) -> bool:
    return isinstance(value, str) and bool(_CONNECTION_ID.match(value))


def validate_channel_name(value: object) -> None:
    """A channel name must match WEBSOCKETS["CHANNEL_NAME_PATTERN"] and fit WEBSOCKETS["CHANNEL_NAME_MAX_LENGTH"].

    The message never repeats the value or the pattern: it may reach a client.
    """
    max_length = min(ws_settings.CHANNEL_NAME_MAX_LENGTH, CHANNEL_NAME_COLUMN_LENGTH)
    if not isinstance(value, str) or not value:
        raise ValidationError("A channel name must be a non-empty string.")
    if len(value) > max_length:
        raise ValidationError(f"A channel name is at most {max_length} characters.")
    if not re.fullmatch(ws_settings.CHANNEL_NAME_PATTERN, value):
        raise ValidationError("The channel name has characters that are not allowed.")


def validate_region(value: str) -> None:
    if not re.fullmatch(_REGION, value):
        raise ValidationError("Enter an AWS region name such as eu-west-1.")


def validate_https_url(value: str) -> None:
    # API Gateway forwards the connection's secret header to this URL, so it must never travel in clear text.
    if urlsplit(value).scheme != "https":
        raise ValidationError("API Gateway must reach Django over HTTPS: enter an https:// URL.")


def validate_lambda_function_arn(value: str) -> None:
    if not _LAMBDA_ARN.match(value):
        raise ValidationError(
            "Enter a Lambda function ARN such as arn:aws:lambda:eu-west-1:123456789012:function:my-site "
            "(optionally ending in :alias or :version)."
        )


def validate_certificate_arn(value: str) -> None:
    if not _CERTIFICATE_ARN.match(value):
        raise ValidationError(
            "Enter an ACM certificate ARN such as arn:aws:acm:eu-west-1:123456789012:certificate/<uuid>."
        )


def validate_hosted_zone_id(value: str) -> None:
    if not _HOSTED_ZONE_ID.match(value):
        raise ValidationError("Enter the hosted zone id only, e.g. Z1D633PJN98FT9 (without '/hostedzone/').")


def lambda_arn_region(function_arn: str) -> str:
    """The region field of a Lambda function ARN."""
    return function_arn.split(":")[3]


def lambda_arn_account(function_arn: str) -> str:
    """The account field of a Lambda function ARN."""
    return function_arn.split(":")[4]
