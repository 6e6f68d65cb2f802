"""Operator commands inside Lambda: ``{"manage": "migrate --noinput"}`` runs an allow-listed management command.

The command line is split with shlex and run with ``call_command``: no shell, no exec. Only commands named in the
``LAMBDA_MANAGE_COMMANDS`` setting run; the answer is ``{"exit_code": int, "output": str}`` with stdout and stderr.
"""

from __future__ import annotations

import io
import logging
import shlex
from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError

logger = logging.getLogger(__name__)

USAGE_ERROR = 2


def command_line_of(event: dict[str, Any]) -> Any:
    """The command line of a ``{"manage": ...}`` or serverless-wsgi ``{"_serverless-wsgi": {...}}`` event."""
    if "manage" in event:
        return event["manage"]
    wrapped = event.get("_serverless-wsgi")
    if isinstance(wrapped, dict) and wrapped.get("command") == "manage":
        return wrapped.get("data")
    return None


def run_command_line(command_line: Any, allowed: set[str] | None = None) -> dict[str, Any]:
    """Run ``command_line`` if its command is allowed; never raises."""
    allowed = set(settings.LAMBDA_MANAGE_COMMANDS) if allowed is None else allowed
    if not isinstance(command_line, str):
        return _result(USAGE_ERROR, 'Expected a command line string, e.g. {"manage": "migrate --noinput"}.')
    try:
        argv = shlex.split(command_line)
    except ValueError as exc:
        return _result(USAGE_ERROR, f"Cannot parse the command line: {exc}.")
    if not argv:
        return _result(USAGE_ERROR, "The command line is empty.")
    name, args = argv[0], argv[1:]
    if name not in allowed:
        return _result(USAGE_ERROR, f"{name!r} is not allowed here. Allowed: {', '.join(sorted(allowed)) or 'none'}.")
    if name not in get_commands():
        return _result(USAGE_ERROR, f"Unknown command {name!r}.")
    return _run(name, args)


def _run(name: str, args: list[str]) -> dict[str, Any]:
    stdout, stderr = io.StringIO(), io.StringIO()
    exit_code = 0
    try:
        call_command(name, *args, stdout=stdout, stderr=stderr)
    except CommandError as exc:
        exit_code = exc.returncode
        stderr.write(f"CommandError: {exc}\n")
    except SystemExit as exc:
        exit_code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:
        logger.exception("Management command %s failed", name)
        exit_code = 1
        stderr.write(f"{type(exc).__name__}: {exc}\n")
    logger.info("Management command %s finished", name, extra={"command": name, "exit_code": exit_code})
    return _result(exit_code, stdout.getvalue() + stderr.getvalue())


def _result(exit_code: int, output: str) -> dict[str, Any]:
    return {"exit_code": exit_code, "output": output}
