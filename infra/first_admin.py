"""The first admin of a deployed stack, whose password never appears in an event, a log line or an answer.

``make createsuperuser ENV=... USERNAME=... EMAIL=...`` sends ``{"create_admin": {"username": ..., "email": ...}}``
to the operator function. The function generates the password, creates the superuser and stores the password in a
new Secrets Manager secret named ``<ADMIN_PASSWORD_SECRET_PREFIX><username>`` (the template sets the prefix to
``<stack name>/admin/`` and allows creating secrets under it, nothing else), in one transaction: if the secret
cannot be created, no user is left behind. The answer names the secret; the operator reads the password from it.

This is a separate event kind, not ``{"manage": "createsuperuser ..."}``: that command stays off the general
allow-list (``LAMBDA_MANAGE_COMMANDS``), and an email address is not an argument the allow-list can express.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

logger = logging.getLogger(__name__)

PREFIX_VARIABLE = "ADMIN_PASSWORD_SECRET_PREFIX"
USAGE_ERROR = 2
FAILED = 1
# Secrets Manager names allow these characters only; Django's default validator would also take other letters.
USERNAME = re.compile(r"[A-Za-z0-9_.@+-]{1,150}\Z")
PASSWORD_BYTES = 32  # 256 bits, URL-safe text of 43 characters


def create_admin(request: Any) -> dict[str, Any]:
    """Create the superuser ``request["username"]``; ``{"exit_code": int, "output": str}``, never raises."""
    if not isinstance(request, dict):
        return _result(USAGE_ERROR, 'Expected an object: {"create_admin": {"username": "...", "email": "..."}}.')
    if set(request) != {"username", "email"}:
        return _result(USAGE_ERROR, "create_admin takes exactly username and email (the password is generated).")
    username, email = request["username"], request["email"]
    if not isinstance(username, str) or not USERNAME.match(username):
        return _result(USAGE_ERROR, "The username must be 1-150 of the characters A-Z a-z 0-9 _ . @ + -.")
    if not isinstance(email, str) or len(email) > 254 or not _is_email(email):
        return _result(USAGE_ERROR, "The email is not a valid email address.")
    prefix = os.environ.get(PREFIX_VARIABLE, "").strip()
    if not prefix:
        return _result(USAGE_ERROR, f"{PREFIX_VARIABLE} is not set: no place to store the password.")
    user_model = get_user_model()
    if user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
        return _result(FAILED, f"The user {username!r} already exists; nothing was changed.")
    secret_name = f"{prefix}{username}"
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    try:
        with transaction.atomic():
            user_model._default_manager.create_superuser(
                **{user_model.USERNAME_FIELD: username, "email": email, "password": password}
            )
            _store(secret_name, json.dumps({"username": username, "password": password}))
    except Exception as exc:  # the reason is in its type; the password is never in a message
        logger.warning("The first admin was not created", extra={"error": type(exc).__name__})
        return _result(FAILED, f"Nothing was created: storing the password failed ({type(exc).__name__}).")
    logger.info("Created a superuser; its password is in Secrets Manager", extra={"secret_name": secret_name})
    return _result(
        0,
        f"Created the superuser {username!r}. Its password is in the Secrets Manager secret {secret_name!r}:\n"
        f"  aws secretsmanager get-secret-value --secret-id '{secret_name}' --query SecretString --output text\n"
        "Sign in, change the password, then delete the secret.",
    )


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _store(name: str, value: str) -> None:
    import boto3  # only the operator function, only for this event

    # botocore logs each request body at DEBUG (LogLevel=DEBUG in dev): not this one, which holds the password.
    quiet = [logging.getLogger(name) for name in ("botocore", "boto3", "urllib3")]
    levels = [log.level for log in quiet]
    for log in quiet:
        log.setLevel(logging.INFO)
    try:
        boto3.client("secretsmanager").create_secret(
            Name=name, SecretString=value, Description="Generated password of the site's first admin."
        )
    finally:
        for log, level in zip(quiet, levels, strict=True):
            log.setLevel(level)


def _result(exit_code: int, output: str) -> dict[str, Any]:
    return {"exit_code": exit_code, "output": output}
