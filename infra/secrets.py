"""Secrets at Lambda init: ``DJANGO_SECRET_KEY`` and ``DATABASE_URL`` read from AWS before Django reads its settings.

The SAM template gives each function the *names* of two parameters, never their values:
``DJANGO_SECRET_KEY_PARAMETER`` and ``DATABASE_URL_PARAMETER``, kept in SSM Parameter Store as SecureStrings
(``DJANGO_SECRETS_STORE=ssm``, the default) or in Secrets Manager (``DJANGO_SECRETS_STORE=secretsmanager``).
``load_secrets`` fetches them through Powertools Parameters and sets the values in the environment, where
``project.settings`` finds them. Without those names (local runs, tests) it does nothing and imports nothing, so
boto3 stays out of processes that never needed it.
"""

from __future__ import annotations

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


class SecretsError(RuntimeError):
    """A named secret could not be read; the message names it, never its value."""


def load_secrets(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Fill the variables whose parameter is named in ``environ``; returns the names of the variables set.

    All or nothing: if one secret cannot be read, none is set and ``SecretsError`` stops the container's init.
    """
    names = {target: environ.get(variable, "").strip() for target, variable in PARAMETER_NAMES.items()}
    wanted = {target: name for target, name in names.items() if name}
    if not wanted:
        return []
    store = environ.get(STORE_VARIABLE, "").strip() or SSM
    if store not in STORES:
        raise SecretsError(f"{STORE_VARIABLE} must be one of {', '.join(STORES)}; got {store!r}.")
    fetch = _fetcher(store)
    values: dict[str, str] = {}
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


def _fetcher(store: str) -> Callable[[str], object]:
    # Imported here: Powertools Parameters loads boto3, which only containers with named secrets need.
    from aws_lambda_powertools.utilities import parameters

    if store == SSM:
        return lambda name: parameters.get_parameter(name, decrypt=True, force_fetch=True)
    return lambda name: parameters.get_secret(name, force_fetch=True)
