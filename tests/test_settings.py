"""The project settings, loaded in fresh processes with the environment a deployment would give them."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils.log import AdminEmailHandler

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "k9#Vq2!pL7@xR4$mZ8&nB3*wT6^yH1%cF5(dJ0)gS-uE+aQ=iO~eW",
    "DJANGO_ALLOWED_HOSTS": "www.example.com",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
    "WEBSOCKETS_ALLOWED_ORIGINS": "https://www.example.com",
}


def run_python(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run Python in the project root with only the given Django/database variables set."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "CONN_"))}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60
    )


def settings_value(expression: str, env: dict[str, str]) -> object:
    code = f"import json, django; django.setup(); from django.conf import settings; print(json.dumps({expression}))"
    result = run_python("-c", code, env={"DJANGO_SETTINGS_MODULE": "project.settings", **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_refuses_to_start_without_a_secret_key():
    result = run_python("manage.py", "check", env={"DJANGO_DEBUG": "0"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_debug_mode_runs_without_a_secret_key():
    result = run_python("manage.py", "check", env={"DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_with_a_production_environment():
    result = run_python("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_any_origin_may_open_websockets():
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != "WEBSOCKETS_ALLOWED_ORIGINS"}
    result = run_python("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 1
    assert "websockets_app.W002" in result.stdout + result.stderr


def test_websocket_origins_and_token_binding_come_from_the_environment():
    value = settings_value(
        "[settings.WEBSOCKETS.get(k) for k in ('ALLOWED_ORIGINS', 'TOKEN_REQUIRES_SESSION')]",
        {
            "DJANGO_DEBUG": "1",
            "WEBSOCKETS_ALLOWED_ORIGINS": "https://example.com, https://.example.com",
            "WEBSOCKETS_TOKEN_REQUIRES_SESSION": "0",
        },
    )
    assert value == [["https://example.com", "https://.example.com"], False]


def test_the_client_url_comes_from_the_environment():
    value = settings_value(
        "settings.WEBSOCKETS.get('CLIENT_URL')",
        {"DJANGO_DEBUG": "1", "WEBSOCKETS_CLIENT_URL": "wss://ws.example.com"},
    )
    assert value == "wss://ws.example.com"
    assert settings_value("settings.WEBSOCKETS.get('CLIENT_URL')", {"DJANGO_DEBUG": "1"}) is None


def test_production_defaults_are_secure():
    value = settings_value(
        "[settings.DEBUG, settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE,"
        " settings.SECURE_HSTS_SECONDS, settings.ALLOWED_HOSTS]",
        {"DJANGO_SECRET_KEY": PRODUCTION_ENV["DJANGO_SECRET_KEY"]},
    )
    assert value == [False, True, True, True, 31_536_000, []]


def test_sqlite_file_is_the_default_database():
    engine, name = settings_value(
        "[settings.DATABASES['default'][k] for k in ('ENGINE', 'NAME')]", {"DJANGO_DEBUG": "1"}
    )
    assert engine == "django.db.backends.sqlite3"
    assert name == str(ROOT / "db.sqlite3")


def test_database_url_selects_postgres_with_connection_reuse():
    db = settings_value(
        "{k: settings.DATABASES['default'][k] for k in ('ENGINE', 'NAME', 'HOST', 'PORT', 'USER', 'CONN_MAX_AGE',"
        " 'CONN_HEALTH_CHECKS')}",
        {"DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://app:pw@db.internal:5433/site", "CONN_MAX_AGE": "300"},
    )
    assert db == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "site",
        "HOST": "db.internal",
        "PORT": 5433,
        "USER": "app",
        "CONN_MAX_AGE": 300,
        "CONN_HEALTH_CHECKS": True,
    }


def test_psycopg_3_is_the_postgres_driver():
    import psycopg

    assert psycopg.__version__.startswith("3.")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_DEBUG": "perhaps"}, "DJANGO_DEBUG must be a boolean"),
        ({"DJANGO_DEBUG": "1", "CONN_MAX_AGE": "-1"}, "CONN_MAX_AGE must be at least 0"),
        ({"DJANGO_DEBUG": "1", "DJANGO_LOG_FORMAT": "xml"}, "DJANGO_LOG_FORMAT must be 'json' or 'text'"),
    ],
)
def test_malformed_environment_values_stop_startup_with_a_clear_message(env, message):
    result = run_python("manage.py", "check", env=env)
    assert result.returncode != 0
    assert message in result.stderr


def test_logs_are_one_json_object_per_line():
    code = "import django, logging; django.setup(); logging.getLogger('websockets_app').warning('hello %s', 'world')"
    result = run_python("-c", code, env={"DJANGO_DEBUG": "1", "DJANGO_SETTINGS_MODULE": "project.settings"})
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["message"] == "hello world"
    assert record["level"] == "WARNING"


def test_errors_are_never_mailed_to_admins():
    names = ["", *logging.root.manager.loggerDict]
    handlers = [h for name in names for h in getattr(logging.getLogger(name), "handlers", [])]
    assert not any(isinstance(h, AdminEmailHandler) for h in handlers)
    assert settings.LOGGING["loggers"]["django"]["handlers"] == ["console"]


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_the_suite_cannot_reach_beyond_this_machine():
    import socket

    with pytest.raises(OSError, match=r"only 127\.0\.0\.1"):
        socket.getaddrinfo("execute-api.eu-west-1.amazonaws.com", 443)
    with pytest.raises(OSError, match=r"only 127\.0\.0\.1"), socket.socket() as sock:
        sock.connect(("203.0.113.1", 443))
