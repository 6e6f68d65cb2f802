"""Lock keys: stable, signed 64-bit, and the same for the same name in every process."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from websockets_app.locks import advisory_key, lock_keys


def test_advisory_keys_are_stable_signed_64_bit_numbers():
    assert advisory_key("connect:ip:203.0.113.7") == advisory_key("connect:ip:203.0.113.7")
    assert advisory_key("a") != advisory_key("b")
    keys = [advisory_key(f"user:{n}") for n in range(1000)]
    assert all(-(2**63) <= key < 2**63 for key in keys)
    assert any(key < 0 for key in keys)


@pytest.mark.django_db
def test_lock_keys_holds_the_locks_until_the_transaction_ends(django_assert_max_num_queries):
    with transaction.atomic():
        with django_assert_max_num_queries(1):  # every lock in one round trip (none at all on SQLite)
            lock_keys("x", "y", "x")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
                assert cursor.fetchone()[0] == 2
