"""Shared by the benchmarks: a production-like environment on a throwaway SQLite database, the machine they ran on,
targets judged by ratios to a baseline measured in the same run, and JSON output."""

from __future__ import annotations

import hashlib
import json
import os
import platform
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


def cpu_model() -> str:
    """The CPU's marketing name: /proc/cpuinfo on Linux, sysctl on macOS, else whatever platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":")[0].strip() in ("model name", "Hardware", "cpu model"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        done = subprocess.run(
            ["/usr/sbin/sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, check=False
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict[str, Any]:
    """Where the figures come from: absolute numbers only compare on the same machine under the same load."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
        "load_average_1min": round(load[0], 2) if load else None,
    }


def target(name: str, value: float, *, at_most: float | None = None, at_least: float | None = None) -> dict[str, Any]:
    """One judged figure: a ratio to the run's own baseline (or an exact count), with its bound and whether it holds."""
    if (at_most is None) == (at_least is None):
        raise ValueError("a target has exactly one bound: at_most or at_least")
    met = value <= at_most if at_most is not None else value >= at_least
    bound = {"at_most": at_most} if at_most is not None else {"at_least": at_least}
    return {"name": name, "value": value, **bound, "met": met}


def missed(targets: list[dict[str, Any]]) -> list[str]:
    """One line per target not met: its figure and the bound it needed."""
    return [
        f"{t['name']}: {t['value']}, needs "
        + (f"at most {t['at_most']}" if "at_most" in t else f"at least {t['at_least']}")
        for t in targets
        if not t["met"]
    ]


def summary(targets: list[dict[str, Any]]) -> str:
    return f"{sum(t['met'] for t in targets)} of {len(targets)} targets met"


def judged(result: dict[str, Any], targets: list[dict[str, Any]]) -> dict[str, Any]:
    """The result with the machine, its targets and the verdict; ``ok`` when every target is met."""
    return {
        **result,
        "machine": machine(),
        "targets": targets,
        "targets_met": summary(targets),
        "ok": all(t["met"] for t in targets),
    }


def emit(result: dict[str, Any], out: Any = None) -> int:
    """Print the result as JSON; the exit status says whether every target was met."""
    print(json.dumps(result, indent=2), file=out or sys.__stdout__)
    return 0 if result.get("ok", True) else 1
