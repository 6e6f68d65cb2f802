"""importLegacyWebSockets against the real schema of django-aws-api-gateway-websockets (the pinned dev requirement):
a subprocess migrates both apps on a database of its own, creates rows with the original's models and imports them
(tests/legacy_import_scenario.py). The project's own test database never holds the legacy app's tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from websockets_app.rate_limits import rate_limited_address

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def legacy_database(request, tmp_path_factory) -> Iterator[str]:
    """A throwaway database: an SQLite file, or (when the suite runs on PostgreSQL) '<database>_legacy'."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('legacy') / 'legacy.sqlite3'}"
        return
    url = postgres_url()
    if url is None:
        pytest.skip("DATABASE_URL is not PostgreSQL")
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_legacy"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def imported(legacy_database) -> dict[str, Any]:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.legacy_import_settings",
        "LEGACY_IMPORT_DATABASE_URL": legacy_database,
        "DJANGO_SECRET_KEY": "legacy-import-scenario-" + "k" * 50,
        "PYTHONPATH": str(ROOT),
    }
    environment.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "tests.legacy_import_scenario"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in rows}


SAME_GATEWAY_FIELDS = (
    "api_name",
    "api_description",
    "default_channel_name",
    "domain_name",
    "target_base_endpoint",
    "certificate_arn",
    "hosted_zone_id",
    "api_key_selection_expression",
    "route_selection_expression",
    "stage_name",
    "stage_description",
    "deployment_id",
    "tags",
    "api_id",
    "api_endpoint",
    "api_gateway_domain_name",
    "api_mapping_id",
    "api_created",
    "custom_domain_created",
    "created_on",
    "updated_on",
)

SUCCESS = {True: "successful", False: "refused"}


def test_every_row_is_imported_or_reported(imported):
    legacy, ours = imported["legacy"], imported["ours"]

    # API gateways: every field the original has, and a fresh integration secret of our own.
    gateways = by(ours["gateways"], "api_name")
    assert set(gateways) == {"site", "draft"}
    legacy_gateways = by(legacy["gateways"], "api_name")
    for name, gateway in gateways.items():
        for field in SAME_GATEWAY_FIELDS:
            assert gateway[field] == legacy_gateways[name][field], (name, field)
        assert (gateway["integration_type"], gateway["self_registered"]) == ("HTTP_PROXY", False)
        assert gateway["stage_created"] == legacy_gateways[name]["api_created"]
        assert len(gateway["integration_secret"]) == 43
    assert gateways["site"]["integration_secret"] != gateways["draft"]["integration_secret"]
    first_output = imported["first_run"]
    assert "skipped gateway 'plain' (target_base_endpoint: API Gateway must reach Django over HTTPS" in first_output
    assert "skipped gateway 'no-target' (target_base_endpoint: An HTTP_PROXY integration needs" in first_output

    # Routes: matched to their imported gateway, AWS ids and deployed state kept.
    gateway_names = {row["id"]: row["api_name"] for row in ours["gateways"]}
    legacy_gateway_names = {row["id"]: row["api_name"] for row in legacy["gateways"]}
    routes = {(gateway_names[row["api_gateway_id"]], row["route_key"]): row for row in ours["routes"]}
    assert set(routes) == {("site", "chat"), ("draft", "news")}
    for row in legacy["routes"]:
        key = (legacy_gateway_names[row["api_gateway_id"]], row["route_key"])
        if key not in routes:
            continue
        for field in ("name", "integration_url", "deployed", "route_id", "integration_id", "created_on", "updated_on"):
            assert routes[key][field] == row[field], (key, field)
    assert "skipped route 'bad key!' (route_key: A route key may use only" in first_output
    assert "skipped route 'plain' (its API gateway was not imported)" in first_output

    # Sessions: connected state, user, channel, request count and timestamps kept.
    sessions = by(ours["sessions"], "connection_id")
    assert set(sessions) == {"L0SM9cOFvHcCIhw=", "gone1=", "orphan="}
    for row in legacy["sessions"]:
        if row["connection_id"] not in sessions:
            continue
        session = sessions[row["connection_id"]]
        for field in ("channel_name", "user_id", "connected", "request_count", "created_on", "updated_on"):
            assert session[field] == row[field], (row["connection_id"], field)
        legacy_gateway = legacy_gateway_names.get(row["api_gateway_id"])
        assert gateway_names.get(session["api_gateway_id"]) == legacy_gateway
    assert sessions["gone1="]["connected"] is False
    assert sessions["L0SM9cOFvHcCIhw="]["connected"] is True
    assert "skipped session 4 (not an API Gateway connection id)" in first_output
    assert "skipped session plain1= (its API gateway was not imported)" in first_output

    # Connection attempts: the whole history, folded into counters per address (an IPv6 client by its /64) and user.
    expected: Counter[tuple[str, Any, str]] = Counter()
    for row in legacy["attempts"]:
        expected[(rate_limited_address(row["ip_address"]), row["user_id"], SUCCESS[row["successful"]])] += 1
    counted: Counter[tuple[str, Any, str]] = Counter()
    for row in ours["attempts"]:
        for outcome in ("successful", "refused"):
            counted[(row["ip_address"], row["user_id"], outcome)] += row[outcome]
    assert +counted == expected
    assert {key[0] for key in expected} == {"203.0.113.7", "2001:db8::"}  # the IPv6 client by its /64

    # Tokens are never copied, and the output says why; so for the channel permission.
    assert ours["tokens"] == 0
    assert "WebSocket tokens: 1 not copied (the original stores them in plain text" in first_output
    assert "Channel permissions: 1 not imported" in first_output
    assert "Update API Gateway" in first_output
    assert first_output.splitlines()[-7:-3] == [
        "API gateways: 2 created, 0 updated, 0 unchanged, 2 skipped",
        "Additional routes: 2 created, 0 updated, 0 unchanged, 2 skipped",
        "WebSocket sessions: 3 created, 0 updated, 0 unchanged, 2 skipped",
        "Connection attempts: 3 created, 0 updated, 0 unchanged, 0 skipped",
    ]


def test_a_dry_run_prints_the_changes_and_writes_nothing(imported):
    assert imported["after_dry_run"] == {"gateways": 0, "sessions": 0, "attempts": 0}
    output = imported["dry_run"]
    assert output.startswith("Dry run: the changes below are rolled back; nothing is written.")
    assert "created gateway 'site'" in output
    assert "created session L0SM9cOFvHcCIhw=" in output
    assert "API gateways: 2 created, 0 updated, 0 unchanged, 2 skipped" in output


def test_a_second_run_changes_nothing(imported):
    assert imported["ours_after_second_run"] == {
        key: imported["ours"][key] for key in imported["ours_after_second_run"]
    }
    assert "API gateways: 0 created, 0 updated, 2 unchanged, 2 skipped" in imported["second_run"]
    assert "WebSocket sessions: 0 created, 0 updated, 3 unchanged, 2 skipped" in imported["second_run"]
    assert "Connection attempts: 0 created, 0 updated, 3 unchanged, 0 skipped" in imported["second_run"]


@pytest.mark.django_db
def test_without_the_original_tables_the_command_says_so_and_writes_nothing():
    with pytest.raises(CommandError, match="No tables of django_aws_api_gateway_websockets were found"):
        call_command("importLegacyWebSockets")
