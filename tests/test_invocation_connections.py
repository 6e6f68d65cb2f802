"""Scheduled, operator and fan-out invocations treat their database connection as a request does: with
CONN_MAX_AGE 0 (behind a pooler, or a database that pauses when idle) it is closed when the invocation ends, so an
idle container holds no connection; an unusable one is replaced before work."""

from __future__ import annotations

import pytest
from django.db import connection

from infra.handlers import cleanup_handler, fanout_handler, manage_handler
from tests.events import schedule_event, sqs_event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conn_max_age(monkeypatch):
    def set_to(seconds: int) -> None:
        monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", seconds)
        connection.close()  # the next connection is opened with this age

    return set_to


INVOCATIONS = {
    "cleanup": lambda: cleanup_handler(schedule_event("sessions"), None),
    "manage": lambda: manage_handler({"manage": "showmigrations websockets_app"}, None),
    "fanout": lambda: fanout_handler(sqs_event(), None),
}


@pytest.mark.parametrize("kind", sorted(INVOCATIONS))
def test_with_conn_max_age_zero_the_connection_is_closed_when_the_invocation_ends(conn_max_age, kind):
    conn_max_age(0)
    connection.ensure_connection()  # as a previous invocation of this container would have left it
    INVOCATIONS[kind]()
    assert connection.connection is None


def test_cleanup_uses_the_database_and_then_lets_it_go(conn_max_age):
    conn_max_age(0)
    result = cleanup_handler(schedule_event("sessions"), None)
    assert result["ok"] is True, result
    assert connection.connection is None


def test_with_a_connection_age_the_connection_is_kept_for_the_next_invocation(conn_max_age):
    conn_max_age(60)
    cleanup_handler(schedule_event("sessions"), None)
    assert connection.connection is not None
