"""The app behind a transaction-pooling proxy, proved with PgBouncer standing in for RDS Proxy.

A second pytest run, with DATABASE_URL pointing at PgBouncer (transaction mode, a pool of ten server connections)
and DATABASE_POOLED=1 as the template sets it behind RDS Proxy, runs tests/through_pooler.py (two hundred concurrent
token connects, messages and disconnects through the Lambda handler) and the race tests (one token admits exactly
one connection, a burst admits exactly the rate limit, advisory locks). pytest-django creates its test database
through PgBouncer, whose ``*`` entry maps every database name to the same name on PostgreSQL; the database is kept
by that run (--reuse-db: PgBouncer still holds server connections to it) and dropped here once PgBouncer is gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import dj_database_url
import psycopg
import pytest
from psycopg import sql

from tests.pgbouncer import PgBouncer, Upstream, require_pgbouncer, require_postgres

ROOT = Path(__file__).resolve().parent.parent
POOL_SIZE = 10
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "--reuse-db"]
THROUGH_THE_POOLER = ["tests/through_pooler.py", "tests/test_security_concurrency.py", "tests/test_locks.py"]


def upstream_server() -> Upstream:
    """The PostgreSQL server of this run (DATABASE_URL), else POSTGRES_URL, else the local default."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = os.environ.get("POSTGRES_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    parsed = dj_database_url.parse(url)
    return Upstream(
        host=parsed["HOST"] or "127.0.0.1",
        port=int(parsed["PORT"] or 5432),
        user=parsed["USER"] or "postgres",
        password=parsed["PASSWORD"] or "",
    )


def admin_connection(upstream: Upstream) -> psycopg.Connection:
    return psycopg.connect(
        host=upstream.host,
        port=upstream.port,
        user=upstream.user,
        password=upstream.password or None,
        dbname="postgres",
        autocommit=True,
    )


def drop_database(upstream: Upstream, name: str) -> None:
    with admin_connection(upstream) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def server_connections_to(upstream: Upstream, name: str) -> int:
    with admin_connection(upstream) as connection:
        row = connection.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]).fetchone()
        return int(row[0]) if row else 0


@pytest.mark.slow
def test_two_hundred_concurrent_clients_and_the_race_tests_pass_through_pgbouncer(tmp_path):
    require_pgbouncer()
    upstream = upstream_server()
    require_postgres(upstream.host, upstream.port)
    name = f"pooled_{os.getpid()}"
    test_database = f"test_{name}"  # what pytest-django creates for NAME
    report = tmp_path / "report.xml"
    drop_database(upstream, test_database)
    try:
        with PgBouncer(upstream, pool_size=POOL_SIZE) as bouncer:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CONN_"))},
                "DATABASE_URL": f"postgres://{upstream.user}@127.0.0.1:{bouncer.port}/{name}",
                "DATABASE_POOLED": "1",
            }
            done = subprocess.run(
                [*PYTEST, f"--junitxml={report}", *THROUGH_THE_POOLER],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            # Every client went through at most the pool's server connections.
            used = server_connections_to(upstream, test_database)
            log = bouncer.log
    finally:
        drop_database(upstream, test_database)

    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:] + log[-3000:]
    suite = ET.parse(report).getroot()  # noqa: S314  (the report this test just had written)
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert suite is not None
    counts = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] >= 5
    assert (counts["failures"], counts["errors"], counts["skipped"]) == (0, 0, 0), done.stdout[-6000:]
    names = {case.get("name") for case in suite.iter("testcase")}
    assert "test_two_hundred_clients_connect_send_and_disconnect_at_once_without_an_error" in names
    assert "test_fifty_concurrent_connects_with_one_token_admit_exactly_one" in names
    assert "test_a_burst_of_one_hundred_connects_from_one_ip_admits_exactly_the_limit" in names
    assert 0 < used <= POOL_SIZE


def test_a_missing_pgbouncer_skips_the_test_and_fails_it_where_it_is_required(monkeypatch):
    from tests import pgbouncer

    monkeypatch.setattr(pgbouncer, "PGBOUNCER", "/nonexistent/pgbouncer")
    monkeypatch.delenv("REQUIRE_PGBOUNCER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install pgbouncer"):
        pgbouncer.require_pgbouncer()
    monkeypatch.setenv("REQUIRE_PGBOUNCER", "1")
    with pytest.raises(pytest.fail.Exception, match="required here"):
        pgbouncer.require_pgbouncer()
