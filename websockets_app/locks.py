"""Short database locks that serialise a check-then-write on one key (a client IP, a user) inside a transaction.

Counting recent attempts and recording a new one must happen as one step, or a burst of concurrent requests all
read the same count and all get in. Each database serialises differently:

* PostgreSQL: a transaction-level advisory lock per key (``pg_advisory_xact_lock``), released at commit. Requests
  for other keys are not held up.
* SQLite: writers are already serialised for the whole database, and this project opens every transaction with
  ``BEGIN IMMEDIATE`` (see project/settings.py), so the transaction holds the write lock from its first statement.
  The system check ``websockets_app.W003`` warns when a SQLite database is configured otherwise.
"""

from __future__ import annotations

import hashlib

from django.db import connections


def advisory_key(name: str) -> int:
    """A stable signed 64-bit number for a lock name (what ``pg_advisory_xact_lock`` takes)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def lock_keys(*names: str, using: str = "default") -> None:
    """Hold a lock on each name until the current transaction ends. Call inside ``transaction.atomic()``."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    # Always in the same order (PostgreSQL evaluates a select list left to right), so two requests that need the
    # same two locks cannot deadlock; one round trip for all of them.
    keys = sorted({advisory_key(name) for name in names})
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["pg_advisory_xact_lock(%s)"] * len(keys)), keys)
