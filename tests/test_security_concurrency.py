"""Races: concurrent $connects, each in its own thread with its own database connection, as concurrent Lambda
containers would be. One token admits exactly one connection; a burst from one IP admits exactly the limit.

SQLite runs these too: the test database is a file (see project/settings.py), writers wait for each other
(IMMEDIATE transactions, busy timeout) instead of failing.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from tests.events import SOURCE_IP, connect_event
from websockets_app.aws_lambda.wsgi import LambdaHandler
from websockets_app.models import ConnectionRateLimit, WebSocketSession, WebSocketToken

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ws_test_views")]


# PostgreSQL allows 100 connections here; leave room for the test's own and for other clients.
WORKERS = 50


def connect_concurrently(handler: LambdaHandler, events: list[dict]) -> Counter:
    """Send every event through ``handler`` from WORKERS threads at once; count the status codes."""
    gate = threading.Event()

    def connect(event: dict) -> int:
        gate.wait()
        try:
            return handler(event, None)["statusCode"]
        finally:
            connections.close_all()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(connect, event) for event in events]
        gate.set()
        return Counter(future.result() for future in futures)


def test_fifty_concurrent_connects_with_one_token_admit_exactly_one(
    settings, login_token, django_user_model, websocket_handler
):
    settings.WEBSOCKETS = {"URL_PREFIX": "/secure/", "CONNECT_RATE_LIMIT_IP_ATTEMPTS": None}
    token, cookie = login_token(django_user_model.objects.create_user("ada"))
    events = [connect_event(f"race-{n}=", query={"ws_token": token}, cookie=cookie) for n in range(50)]

    statuses = connect_concurrently(websocket_handler, events)

    assert statuses == Counter({200: 1, 403: 49})
    assert WebSocketSession.objects.count() == 1
    assert WebSocketToken.objects.get().used is True
    assert ConnectionRateLimit.objects.totals() == {"successful": 1, "refused": 49}


def test_a_burst_of_one_hundred_connects_from_one_ip_admits_exactly_the_limit(settings, websocket_handler):
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IP_ATTEMPTS": 20, "CONNECT_RATE_LIMIT_WINDOW_SECONDS": 60}
    events = [connect_event(f"burst-{n}=") for n in range(100)]

    statuses = connect_concurrently(websocket_handler, events)

    assert statuses == Counter({200: 20, 429: 80})
    assert WebSocketSession.objects.count() == 20
    attempts = ConnectionRateLimit.objects.filter(ip_address=SOURCE_IP).totals()
    assert (attempts["successful"] + attempts["refused"], attempts["successful"]) == (100, 20)
