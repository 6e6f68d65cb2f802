"""``sam local start-lambda`` as a child process: the project's functions in Lambda's own container image.

The containers reach this machine as ``host.docker.internal``: the Management API and the database are named so
in the environment the functions get (``--env-vars``). SQLite cannot be shared with a container, so this needs a
database server in ``DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

from infra.local.config import GatewayConfig
from infra.local.invokers import HTTP, WEBSOCKET

LAMBDA_PORT = 3001
CONTAINER_HOST = "host.docker.internal"
ENV_VARS_FILE = Path(".aws-sam") / "local-env.json"
STARTUP_SECONDS = 600  # the first run pulls Lambda's image

_LOOPBACK = re.compile(r"@(127\.0\.0\.1|localhost)([:/])")


class SamLocalError(RuntimeError):
    """``sam local start-lambda`` cannot run here; the message says why."""


def container_database_url(database_url: str) -> str:
    """``DATABASE_URL`` as a container sees it; SQLite (or nothing) is refused: a container cannot share the file."""
    if not database_url or database_url.startswith("sqlite"):
        raise SamLocalError(
            "Lambda containers cannot share the SQLite file: set DATABASE_URL to a PostgreSQL server "
            "(e.g. postgres://postgres@127.0.0.1:5432/local), or run without a container runtime (in-process)."
        )
    return _LOOPBACK.sub(rf"@{CONTAINER_HOST}\2", database_url)


def function_environment(config: GatewayConfig, database_url: str) -> dict[str, dict[str, str]]:
    """The ``--env-vars`` content: only variables the template declares reach a function."""
    site = f"http://{config.host}:{config.http_port}"
    shared = {
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": container_database_url(database_url),
        # No Parameter Store or Secrets Manager locally: the values above are used as they are.
        "DJANGO_SECRET_KEY_PARAMETER": "",
        "DATABASE_URL_PARAMETER": "",
        # Nor the stack's own Aurora cluster: DATABASE_URL above is the database.
        "DATABASE_SECRET_ARN": "",
        "DATABASE_HOST": "",
        "DATABASE_POOLED": "0",
        "WEBSOCKETS_MANAGEMENT_ENDPOINT_URL": f"http://{CONTAINER_HOST}:{config.ws_port}",
        "WEBSOCKETS_FANOUT_QUEUE_URL": "",
    }
    return {
        WEBSOCKET: {**shared, "WEBSOCKETS_ALLOWED_ORIGINS": site, "DJANGO_ALLOWED_HOSTS": config.host},
        HTTP: {
            **shared,
            "DJANGO_ALLOWED_HOSTS": f"{config.host},localhost",
            "DJANGO_CSRF_TRUSTED_ORIGINS": site,
            "WEBSOCKETS_CLIENT_URL": f"ws://{config.host}:{config.ws_port}",
        },
    }


def command(sam: str, port: int, env_vars: Path) -> list[str]:
    return [sam, "local", "start-lambda", "--port", str(port), "--env-vars", str(env_vars), "--warm-containers", "LAZY"]


async def start_lambda(
    sam: str, config: GatewayConfig, log: logging.Logger, port: int = LAMBDA_PORT
) -> tuple[Any, str]:
    """Start the endpoint (``sam build`` must have run) and wait until it accepts connections."""
    ENV_VARS_FILE.parent.mkdir(exist_ok=True)
    environment = function_environment(config, os.environ.get("DATABASE_URL", ""))
    ENV_VARS_FILE.write_text(json.dumps(environment, indent=2))
    process = await asyncio.create_subprocess_exec(*command(sam, port, ENV_VARS_FILE))
    log.info("Started %s", " ".join(command(sam, port, ENV_VARS_FILE)))
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _accepts(config.host, port):
        if process.returncode is not None:
            raise SamLocalError(f"sam local start-lambda exited with status {process.returncode}.")
        if time.monotonic() > deadline:
            process.terminate()
            raise SamLocalError(f"sam local start-lambda did not listen on port {port} in {STARTUP_SECONDS} s.")
        await asyncio.sleep(0.5)
    return process, f"http://{config.host}:{port}"


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True
