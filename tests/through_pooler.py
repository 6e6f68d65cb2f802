"""Run by tests/test_pgbouncer.py with DATABASE_URL pointing at PgBouncer (transaction mode, ten server connections)
and DATABASE_POOLED=1: two hundred concurrent clients, each a Lambda container with its own database connection,
connect with a token, send a message and disconnect through the real Lambda handler, and none of them fails.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings as django_settings
from django.db import connections, transaction

from infra.handlers import handler
from tests.events import connect_event, disconnect_event, message_event
from websockets_app.models import WebSocketSession, WebSocketToken

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ws_test_views")]

CLIENTS = 200


def test_the_database_is_reached_through_a_transaction_pooler():
    database = django_settings.DATABASES["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["CONN_MAX_AGE"] == 0
    assert database["DISABLE_SERVER_SIDE_CURSORS"] is True


def test_iterating_a_queryset_survives_the_pooler_handing_out_another_server_connection(make_session):
    for _ in range(3):
        make_session()
    rows = WebSocketSession.objects.order_by("pk").iterator(chunk_size=1)
    first = next(rows)  # a server-side cursor would now live on the server connection this statement used
    holding, release = threading.Event(), threading.Event()

    def hold_a_server_connection() -> None:
        # PgBouncer hands out the most recently freed server connection: the one the first fetch used.
        try:
            with transaction.atomic():
                WebSocketSession.objects.exists()
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    other = threading.Thread(target=hold_a_server_connection)
    other.start()
    try:
        assert holding.wait(10)
        rest = list(rows)  # "cursor does not exist" if the rows were left on that other server connection
    finally:
        release.set()
        other.join()
    assert [first.pk] + [row.pk for row in rest] == list(
        WebSocketSession.objects.order_by("pk").values_list("pk", flat=True)
    )


def test_two_hundred_clients_connect_send_and_disconnect_at_once_without_an_error(
    settings, login_token, django_user_model
):
    settings.WEBSOCKETS = {"URL_PREFIX": "/secure/", "CONNECT_RATE_LIMIT_IP_ATTEMPTS": None}
    tokens = [login_token(django_user_model.objects.create_user(f"user{n}")) for n in range(CLIENTS)]
    gate = threading.Event()

    def client(n: int) -> tuple[int, int, str, int]:
        token, cookie = tokens[n]
        connection_id = f"pooled-{n}="
        gate.wait()
        try:
            connected = handler(connect_event(connection_id, query={"ws_token": token}, cookie=cookie), None)
            replied = handler(message_event({"action": "echo", "n": n}, connection_id=connection_id), None)
            closed = handler(disconnect_event(connection_id), None)
            return connected["statusCode"], replied["statusCode"], replied.get("body", ""), closed["statusCode"]
        finally:
            connections.close_all()  # this thread's own connection, as a container's ends with it

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        futures = [pool.submit(client, n) for n in range(CLIENTS)]
        gate.set()
        results = [future.result() for future in futures]

    assert Counter((c, r, d) for c, r, _, d in results) == Counter({(200, 200, 200): CLIENTS})
    assert all(f'"user{n}"' in body for n, (_, _, body, _) in enumerate(results))  # each reply is its own
    assert WebSocketSession.objects.count() == CLIENTS
    assert not WebSocketSession.objects.filter(connected=True).exists()
    assert WebSocketToken.objects.filter(used=True).count() == CLIENTS
