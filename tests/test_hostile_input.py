"""Hostile input: thousands of generated API Gateway events through ``infra.handlers.handler``.

For every event: the handler returns (never raises), the status is an int and never 5xx, and an event that was
refused (status >= 400, or not recognised at all) created or changed no row in any table.

Each test prepares a small database once (a gateway, live and closed connections, a user), then runs its
examples inside a savepoint that is rolled back after each one, so every example starts from the same rows and
the "before" snapshot is taken once. The examples run in an inner ``@given`` function that uses no fixtures.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.db.models import Model
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from infra import event_kinds
from infra.handlers import handler
from tests import hostile_events as hostile
from tests.events import API_ID, CONNECTION_ID, DOMAIN, STAGE, FakeLambdaContext, message_event
from websockets_app.models import ApiGateway, WebSocketSession

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]

# Tables whose rows refused events may write on purpose; every other table must be left exactly as it was.
EXCLUDED_FROM_SNAPSHOT = frozenset(
    {
        # Connection rate limiting counts every attempt, refused ones included (a refused connect adds to its
        # client's bucket row so that repeated bad tokens or bad origins use up the limit).
        "websockets_app.ConnectionRateLimit",
    }
)

CONTEXT = FakeLambdaContext()


def hostile_examples(environ: dict[str, str] = os.environ) -> int:
    """How many events the four generated suites push through the handler together: HOSTILE_EXAMPLES, 10000 in CI
    (.ci/run), 2000 by default so that ``make test`` stays quick."""
    raw = environ.get("HOSTILE_EXAMPLES", "").strip() or "2000"
    if not raw.isdigit() or int(raw) < 20:
        raise ValueError(f"HOSTILE_EXAMPLES must be a whole number of at least 20, not {raw!r}")
    return int(raw)


# Each suite's share of the examples (of 10000: 5000, 2500, 2000 and 500).
SHARES = {"websocket": 0.5, "websocket-live": 0.25, "http": 0.2, "malformed": 0.05}
EXAMPLES = {kind: max(1, round(hostile_examples() * share)) for kind, share in SHARES.items()}
Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot_models() -> list[type[Model]]:
    """Every concrete model of every installed app (auth's many-to-many tables included), minus the exclusions."""
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.label not in EXCLUDED_FROM_SNAPSHOT and not model._meta.proxy
    ]


def take_snapshot(models: list[type[Model]]) -> Snapshot:
    """Every row of every table, read with plain SQL: the ORM would cost more than the request under test."""
    quote = connection.ops.quote_name
    snapshot = {}
    with connection.cursor() as cursor:
        for model in models:
            table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
            cursor.execute(f"SELECT * FROM {table} ORDER BY {pk}")  # noqa: S608 (names from the models' metadata)
            snapshot[model._meta.label] = cursor.fetchall()
    return snapshot


def describe_changes(before: Snapshot, after: Snapshot) -> list[str]:
    return [
        f"{label}: {len(before[label])} rows before, {len(after[label])} after; "
        f"gone {sorted(set(before[label]) - set(after[label]), key=repr)[:3]}, "
        f"new {sorted(set(after[label]) - set(before[label]), key=repr)[:3]}"
        for label in before
        if before[label] != after[label]
    ]


def status_of(event: Any, result: Any) -> int | None:
    """The response status, checked for shape: an int in 100..599 for every event Django answered."""
    assert isinstance(result, dict), f"handler returned {type(result).__name__}"
    if "statusCode" not in result:
        # Only events of no known shape are answered without a status (and must say so).
        assert event_kinds.event_kind(event) is None, result
        assert result["ok"] is False
        return None
    status = result["statusCode"]
    assert type(status) is int, f"statusCode {status!r} is not an int"
    assert 100 <= status <= 599, status
    return status


def run_examples(kind: str, strategy: st.SearchStrategy[dict[str, Any]], max_examples: int) -> None:
    """Push ``max_examples`` generated events through the handler, checking the invariants of each."""
    models = snapshot_models()
    before = take_snapshot(models)
    run = 0

    @hypothesis_settings(max_examples=max_examples)
    @given(event=strategy)
    def check(event: dict[str, Any]) -> None:
        nonlocal run
        run += 1
        hostile.events_run[kind] += 1
        with transaction.atomic():
            try:
                result = handler(event, CONTEXT)
            except Exception as exc:  # the invariant is exactly that nothing escapes
                pytest.fail(f"handler raised {exc!r}")
            status = status_of(event, result)
            hostile.outcomes["accepted" if status is not None and status < 400 else "refused"] += 1
            assert status is None or status < 500, f"server error {status}: {result.get('body', '')[:200]!r}"
            if status is None or status >= 400:
                changes = describe_changes(before, take_snapshot(models))
                assert not changes, f"refused with {status} but changed rows: {changes}"
            transaction.set_rollback(True)

    started = time.perf_counter()
    check()
    hostile.seconds_spent[kind] += time.perf_counter() - started
    assert run >= max_examples


@pytest.fixture
def world(settings, django_user_model) -> dict[str, Any]:
    """The rows every example starts from: a gateway, live and closed connections, one of them a user's."""
    settings.ALLOWED_HOSTS = [DOMAIN, "www.example.com"]
    gateway = ApiGateway.objects.create(
        api_name="chat", api_id=API_ID, stage_name=STAGE, region="eu-west-1", default_channel_name="lobby"
    )
    user = django_user_model.objects.create_user("ada", password="pw")
    for connection_id in hostile.LIVE_CONNECTION_IDS:
        owner = user if connection_id == "owned-by-user=" else None
        WebSocketSession.objects.create(
            connection_id=connection_id, api_gateway=gateway, channel_name="lobby", user=owner
        )
    WebSocketSession.objects.create(
        connection_id=hostile.CLOSED_CONNECTION_ID, api_gateway=gateway, channel_name="lobby", connected=False
    )
    return {"gateway": gateway, "user": user}


def test_websocket_events_to_the_site_view(world):
    run_examples("websocket", hostile.websocket_events(), max_examples=EXAMPLES["websocket"])


def test_messages_and_disconnects_on_live_connections(world):
    """Half the connection ids name a session of the world, so handlers are selected and messages counted."""
    run_examples(
        "websocket-live",
        hostile.websocket_events(("MESSAGE", "MESSAGE", "DISCONNECT")),
        max_examples=EXAMPLES["websocket-live"],
    )


def test_http_api_events(world):
    run_examples("http", hostile.http_events(), max_examples=EXAMPLES["http"])


def test_events_that_are_barely_websocket_events(world):
    """Top-level fields of the wrong type and event types API Gateway never sends."""
    run_examples("malformed", hostile.malformed_events(), max_examples=EXAMPLES["malformed"])


# -- what the generated events found -----------------------------------------------------------------------------


def test_a_message_its_handler_refuses_changes_no_row(world, settings):
    settings.ROOT_URLCONF = "tests.ws_urls"  # EchoView: join moves the connection with change_channel
    before = take_snapshot(snapshot_models())
    result = handler(message_event({"action": "join", "room": "bad\nname"}, connection_id=CONNECTION_ID), CONTEXT)
    assert result["statusCode"] == 400
    assert describe_changes(before, take_snapshot(snapshot_models())) == []


# -- how many examples -------------------------------------------------------------------------------------------


def test_the_example_count_is_settable_and_ci_runs_the_full_ten_thousand():
    assert hostile_examples({}) == 2000
    assert hostile_examples({"HOSTILE_EXAMPLES": " 300 "}) == 300
    for bad in ("ten", "-5", "1e4", "19"):
        with pytest.raises(ValueError, match="HOSTILE_EXAMPLES must be a whole number"):
            hostile_examples({"HOSTILE_EXAMPLES": bad})
    full = hostile_examples({"HOSTILE_EXAMPLES": "10000"})
    assert {kind: round(full * share) for kind, share in SHARES.items()} == {
        "websocket": 5000,
        "websocket-live": 2500,
        "http": 2000,
        "malformed": 500,
    }
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "export HOSTILE_EXAMPLES=10000" in ci.splitlines()
