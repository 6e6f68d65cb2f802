"""Shared by the benchmarks: a production-like environment on a throwaway SQLite database, and JSON output."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
WS_DOMAIN = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"


def bench_env(workdir: Path) -> dict[str, str]:
    """Settings as in Lambda (debug off, JSON logs, collected static files), on a SQLite file in ``workdir``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL", "CONN_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "DJANGO_ALLOWED_HOSTS": WS_DOMAIN,
            "DJANGO_STATIC_ROOT": str(workdir / "static"),
            "PYTHONPATH": str(ROOT),
            "PYTHONDONTWRITEBYTECODE": "",
        }
    )
    return env


BENCH_USER = "bench"
CREATE_USER = f"from django.contrib.auth import get_user_model; get_user_model().objects.create_user({BENCH_USER!r})"


def prepare(env: dict[str, str]) -> None:
    """Migrate the database and collect static files, as a deployment would, and add the user that connects."""
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"], ["shell", "-c", CREATE_USER]):
        subprocess.run([PYTHON, str(ROOT / "manage.py"), *command], env=env, cwd=ROOT, check=True, capture_output=True)


def seed_token(env: dict[str, str]) -> tuple[str, str]:
    """A fresh WebSocket token of the bench user and the session key it is bound to, as the token endpoint would
    have stored them; written with sqlite3 directly, so the process that connects starts cold."""
    raw, session_key = secrets.token_urlsafe(32), secrets.token_hex(16)
    created_at = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        db.execute(
            "INSERT INTO websockets_app_websockettoken (token_hash, user_id, session_key, created_at, used) "
            "SELECT ?, id, ?, ?, 0 FROM auth_user WHERE username = ?",
            [hashlib.sha256(raw.encode()).hexdigest(), session_key, created_at, BENCH_USER],
        )
    return raw, session_key


def median(values: list[float]) -> float:
    return statistics.median(values)


def emit(result: dict[str, Any], out: Any = None) -> int:
    """Print the result as JSON; the exit status says whether every target was met."""
    print(json.dumps(result, indent=2), file=out or sys.__stdout__)
    return 0 if result.get("ok", True) else 1
