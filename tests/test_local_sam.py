"""``sam local start-lambda`` for the local gateway: the environment its containers get, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.local.config import GatewayConfig


def test_containers_reach_the_database_on_the_host():
    from infra.local.sam import container_database_url

    assert container_database_url("postgres://u@127.0.0.1:5432/db") == "postgres://u@host.docker.internal:5432/db"
    assert container_database_url("postgres://u@localhost/db") == "postgres://u@host.docker.internal/db"
    assert container_database_url("postgres://u@db.internal/db") == "postgres://u@db.internal/db"


@pytest.mark.parametrize("database_url", ["", "sqlite:///db.sqlite3"])
def test_sqlite_cannot_be_shared_with_a_container(database_url):
    from infra.local.sam import SamLocalError, container_database_url

    with pytest.raises(SamLocalError, match="cannot share the SQLite file"):
        container_database_url(database_url)


def test_every_variable_given_to_sam_is_declared_by_the_template():
    """`sam local` applies only the variables a function declares; an undeclared one would be silently dropped."""
    from cfnlint.decode import decode_str

    from infra.local.sam import command, function_environment
    from tests.test_template import TEMPLATE_TEXT

    template, _ = decode_str(TEMPLATE_TEXT)
    shared = set(template["Globals"]["Function"]["Environment"]["Variables"])
    environment = function_environment(GatewayConfig(), "postgres://postgres@127.0.0.1:5432/local")
    for function, variables in environment.items():
        own = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
        assert set(variables) <= shared | set(own), function
    assert environment["WebSocketFunction"]["WEBSOCKETS_MANAGEMENT_ENDPOINT_URL"] == "http://host.docker.internal:8001"
    assert command("sam", 3001, Path("env.json"))[:4] == ["sam", "local", "start-lambda", "--port"]


def test_sam_local_uses_the_local_database_never_the_stacks_cluster():
    from infra.local.sam import function_environment

    for variables in function_environment(GatewayConfig(), "postgres://postgres@127.0.0.1:5432/local").values():
        assert (variables["DATABASE_SECRET_ARN"], variables["DATABASE_HOST"], variables["DATABASE_POOLED"]) == (
            "",
            "",
            "0",
        )
        assert variables["DATABASE_URL"] == "postgres://postgres@host.docker.internal:5432/local"
