"""Shared by the benchmarks: a production-like environment on a throwaway SQLite database, and JSON output."""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
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


def prepare(env: dict[str, str]) -> None:
    """Migrate the database and collect static files, as a deployment would."""
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run([PYTHON, str(ROOT / "manage.py"), *command], env=env, cwd=ROOT, check=True, capture_output=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def emit(result: dict[str, Any], out: Any = None) -> int:
    """Print the result as JSON; the exit status says whether every target was met."""
    print(json.dumps(result, indent=2), file=out or sys.__stdout__)
    return 0 if result.get("ok", True) else 1
