"""Database settings as a deployment gives them: a URL, or host/name plus credentials from the RDS-managed secret,
and a connection pooler (RDS Proxy, PgBouncer) in front of PostgreSQL or not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECRET_PARTS = {
    "DATABASE_HOST": "cluster.cluster-abc.eu-west-1.rds.amazonaws.com",
    "DATABASE_PORT": "5432",
    "DATABASE_NAME": "django",
    "DATABASE_USER": "django",
    "DATABASE_PASSWORD": "p@ss:w/rd#%1",
}


def run_settings(env: dict[str, str], code: str = "import django; django.setup()") -> subprocess.CompletedProcess:
    """Load the settings in a fresh process with only these database variables (and a local, debug environment)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CONN_"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "project.settings", "DJANGO_DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def database_settings(env: dict[str, str]) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default'], default=str))"
    )
    done = run_settings(env, code)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_host_name_and_secret_credentials_build_a_postgres_connection_without_a_url():
    database = database_settings(SECRET_PARTS)
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert {key: database[key] for key in ("HOST", "PORT", "NAME", "USER", "PASSWORD")} == {
        "HOST": SECRET_PARTS["DATABASE_HOST"],
        "PORT": "5432",
        "NAME": "django",
        "USER": "django",
        "PASSWORD": "p@ss:w/rd#%1",  # used as it is: no URL, so nothing to escape
    }
    assert database["OPTIONS"]["sslmode"] == "require"  # RDS and RDS Proxy speak TLS
    assert (database["CONN_MAX_AGE"], database["CONN_HEALTH_CHECKS"]) == (60, True)


def test_a_database_url_wins_over_the_parts():
    database = database_settings({**SECRET_PARTS, "DATABASE_URL": "postgres://u:p@other.internal:5432/app"})
    assert (database["HOST"], database["NAME"]) == ("other.internal", "app")


@pytest.mark.parametrize("missing", ["DATABASE_NAME", "DATABASE_USER"])
def test_a_host_without_a_name_or_user_stops_startup(missing):
    done = run_settings({key: value for key, value in SECRET_PARTS.items() if key != missing})
    assert done.returncode != 0
    assert f"{missing} is not set" in done.stderr
    assert SECRET_PARTS["DATABASE_PASSWORD"] not in done.stderr


@pytest.mark.parametrize("source", ["url", "parts"])
def test_behind_a_pooler_connections_close_after_each_request_and_no_server_side_cursor_is_used(source):
    env = {"DATABASE_URL": "postgres://u:p@proxy.internal:5432/app"} if source == "url" else dict(SECRET_PARTS)
    database = database_settings({**env, "DATABASE_POOLED": "1"})
    # The pooler keeps the server connections; an idle container must not hold a client slot.
    assert database["CONN_MAX_AGE"] == 0
    # .iterator() would open a named cursor (session state) that the next transaction may not find.
    assert database["DISABLE_SERVER_SIDE_CURSORS"] is True
    # psycopg prepares a statement run often enough: session state a transaction pooler would lose.
    assert database["OPTIONS"]["prepare_threshold"] is None


def test_without_a_pooler_connections_are_reused_and_server_side_cursors_allowed():
    database = database_settings({"DATABASE_URL": "postgres://u:p@db.internal:5432/app"})
    assert database["CONN_MAX_AGE"] == 60
    assert not database.get("DISABLE_SERVER_SIDE_CURSORS")
    assert "prepare_threshold" not in database.get("OPTIONS", {})


def test_an_explicit_conn_max_age_is_kept_behind_a_pooler():
    database = database_settings(
        {"DATABASE_URL": "postgres://u:p@proxy.internal:5432/app", "DATABASE_POOLED": "1", "CONN_MAX_AGE": "30"}
    )
    assert database["CONN_MAX_AGE"] == 30
    assert database["DISABLE_SERVER_SIDE_CURSORS"] is True


def test_pooled_sqlite_is_refused():
    done = run_settings({"DATABASE_POOLED": "1"})
    assert done.returncode != 0
    assert "DATABASE_POOLED" in done.stderr
