"""Secrets at Lambda init: ``DJANGO_SECRET_KEY`` and ``DATABASE_URL`` read from AWS before Django reads its settings.

The SAM template gives each function the *names* of two parameters, never their values:
``DJANGO_SECRET_KEY_PARAMETER`` and ``DATABASE_URL_PARAMETER``, kept in SSM Parameter Store as SecureStrings
(``DJANGO_SECRETS_STORE=ssm``, the default) or in Secrets Manager (``DJANGO_SECRETS_STORE=secretsmanager``).
``load_secrets`` fetches them through Powertools Parameters and sets the values in the environment, where
``project.settings`` finds them. Without those names (local runs, tests) it does nothing and imports nothing, so
boto3 stays out of processes that never needed it.

A database the stack owns (Aurora, ``DatabaseMode=aurora``) has no URL at all: RDS keeps its master credentials in
a Secrets Manager secret (JSON with ``username`` and ``password``) that ``DATABASE_SECRET_ARN`` names, and the
template gives host, port and database name as plain variables (``DATABASE_HOST``, ``DATABASE_PORT``,
``DATABASE_NAME``). That secret is read in one call, always from Secrets Manager, and fills ``DATABASE_USER`` and
``DATABASE_PASSWORD``, from which ``project.settings`` builds the connection.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, MutableMapping

# Environment variable to fill -> the variable naming the parameter that holds its value.
PARAMETER_NAMES: dict[str, str] = {
    "DJANGO_SECRET_KEY": "DJANGO_SECRET_KEY_PARAMETER",
    "DATABASE_URL": "DATABASE_URL_PARAMETER",
}
STORE_VARIABLE = "DJANGO_SECRETS_STORE"
SSM = "ssm"
SECRETS_MANAGER = "secretsmanager"
STORES = (SSM, SECRETS_MANAGER)
# The RDS-managed master secret: its ARN (or name) -> the two variables its JSON fills.
DATABASE_SECRET_VARIABLE = "DATABASE_SECRET_ARN"  # noqa: S105  (a variable name, not a secret)
DATABASE_CREDENTIALS: dict[str, str] = {"DATABASE_USER": "username", "DATABASE_PASSWORD": "password"}


class SecretsError(RuntimeError):
    """A named secret could not be read; the message names it, never its value."""


def load_secrets(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Fill the variables whose parameter is named in ``environ``; returns the names of the variables set.

    All or nothing: if one secret cannot be read, none is set and ``SecretsError`` stops the container's init.
    """
    names = {target: environ.get(variable, "").strip() for target, variable in PARAMETER_NAMES.items()}
    wanted = {target: name for target, name in names.items() if name}
    database_secret = environ.get(DATABASE_SECRET_VARIABLE, "").strip()
    if database_secret and "DATABASE_URL" in wanted:
        raise SecretsError(
            f"Name either {PARAMETER_NAMES['DATABASE_URL']} or {DATABASE_SECRET_VARIABLE}, not both: "
            "the database would be ambiguous."
        )
    if not wanted and not database_secret:
        return []
    store = environ.get(STORE_VARIABLE, "").strip() or SSM
    if store not in STORES:
        raise SecretsError(f"{STORE_VARIABLE} must be one of {', '.join(STORES)}; got {store!r}.")
    values: dict[str, str] = {}
    if database_secret:
        values.update(read_database_credentials(database_secret))
    fetch = _fetcher(store)
    for target, name in wanted.items():
        try:
            value = fetch(name)
        except Exception as exc:  # any AWS or Powertools error: the reason is in its type, the value is not in it
            reason = type(exc).__name__
            raise SecretsError(f"Cannot read {target} from the {store} parameter {name!r} ({reason}).") from exc
        if not isinstance(value, str) or not value.strip():
            raise SecretsError(f"The {store} parameter {name!r} for {target} is empty or not a string.")
        values[target] = value.strip()
    environ.update(values)
    return sorted(values)


def read_database_credentials(secret: str) -> dict[str, str]:
    """``DATABASE_USER`` and ``DATABASE_PASSWORD`` from an RDS-managed secret (one Secrets Manager call)."""
    try:
        raw = _fetcher(SECRETS_MANAGER)(secret)
    except Exception as exc:  # the reason is in its type; the value is never in the message
        reason = type(exc).__name__
        raise SecretsError(f"Cannot read the database credentials from the secret {secret!r} ({reason}).") from exc
    try:
        document = json.loads(raw) if isinstance(raw, str | bytes) else None
    except ValueError:
        document = None  # the decoder's message quotes the text: never show it
    credentials = {}
    for target, key in DATABASE_CREDENTIALS.items():
        value = document.get(key) if isinstance(document, dict) else None
        if not isinstance(value, str) or not value:
            raise SecretsError(
                f"The secret {secret!r} is not a JSON object with a non-empty {key!r} (an RDS-managed secret is)."
            )
        credentials[target] = value
    return credentials


# Secrets are read at init and when a login is refused after a rotation: a slow AWS fails the read in seconds
# instead of botocore's defaults (60 s to connect, 60 s per read, retried).
_CLIENT_TIMEOUTS = {"connect_timeout": 3, "read_timeout": 5, "retries": {"total_max_attempts": 2, "mode": "standard"}}


def _fetcher(store: str) -> Callable[[str], object]:
    # Imported here: Powertools Parameters loads boto3, which only containers with named secrets need.
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
    from botocore.config import Config

    # Powertools' module-level functions use these providers; installed once, with bounded timeouts.
    if store == SSM and "ssm" not in DEFAULT_PROVIDERS:
        DEFAULT_PROVIDERS["ssm"] = parameters.SSMProvider(boto_config=Config(**_CLIENT_TIMEOUTS))
    if store == SECRETS_MANAGER and "secrets" not in DEFAULT_PROVIDERS:
        DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(boto_config=Config(**_CLIENT_TIMEOUTS))
    if store == SSM:
        return lambda name: parameters.get_parameter(name, decrypt=True, force_fetch=True)
    return lambda name: parameters.get_secret(name, force_fetch=True)
