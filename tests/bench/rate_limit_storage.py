"""Storage of the connection rate limit under a flood, run from the repo root on PostgreSQL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python tests/bench/rate_limit_storage.py

It migrates that database, empties the rate-limit table, sends ``--connects`` refused $connects from one client IP
through the Lambda handler (no token: the site's view refuses each one, as it would an unauthenticated flood) and
``--over-limit`` attempts through ``admit_connection`` past the IP limit, then prints the table's rows and
``pg_total_relation_size`` (heap, indexes, TOAST) after a VACUUM and after a VACUUM FULL as JSON. The table is
emptied again at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connects", type=int, default=100_000, help="refused $connects through the handler")
    parser.add_argument("--over-limit", type=int, default=0, help="attempts past the IP limit via admit_connection")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (pg_total_relation_size is PostgreSQL's).")
    sys.path.insert(0, str(REPO))
    from tests.events import DOMAIN, SOURCE_IP, connect_event

    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ["DJANGO_ALLOWED_HOSTS"] = DOMAIN
    os.environ.setdefault("DJANGO_LOG_LEVEL", "CRITICAL")
    from django.core.management import call_command
    from django.db import connection

    from infra.handlers import handler
    from websockets_app.models import ConnectionRateLimit
    from websockets_app.rate_limits import ConnectionLimits, RateLimited, admit_connection

    call_command("migrate", "--noinput", verbosity=0)
    table = ConnectionRateLimit._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}")

    started = time.perf_counter()
    statuses: dict[int, int] = {}
    logging.disable(logging.CRITICAL)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # the per-event metrics lines
        for n in range(args.connects):
            status = handler(connect_event(f"flood-{n}="), None)["statusCode"]
            statuses[status] = statuses.get(status, 0) + 1
    limits = ConnectionLimits(ip_attempts=60, user_attempts=None, window_seconds=60)
    refused_over_limit = 0
    for _ in range(args.over_limit):
        try:
            admit_connection(SOURCE_IP, None, limits)
        except RateLimited:
            refused_over_limit += 1
    elapsed = time.perf_counter() - started

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")  # noqa: S608 (model's)
        rows, size = cursor.fetchone()
        cursor.execute(f"VACUUM FULL {table}")  # the live rows alone, without the dead versions updates leave
        cursor.execute(f"SELECT pg_total_relation_size('{table}')")
        (compact_size,) = cursor.fetchone()
        cursor.execute(f"TRUNCATE {table}")
    result = {
        "connects": args.connects,
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "over_limit_refused": refused_over_limit,
        "rows": rows,
        "pg_total_relation_size_bytes": size,
        "after_vacuum_full_bytes": compact_size,
        "bytes_per_refused_attempt": round(size / max(1, args.connects + refused_over_limit), 1),
        "seconds": round(elapsed, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
