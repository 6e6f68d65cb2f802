"""Bans that bite: a deactivated or logged-out user's open connections are closed through the Management API, and
an inactive user's messages are refused on connections opened before the ban."""

from __future__ import annotations

import logging
import time

import pytest
from django.contrib.auth import get_user_model

from tests.events import API_ID, CONNECTION_ID, STAGE, message_event
from websockets_app import messaging
from websockets_app.messaging import close_connections_of
from websockets_app.models import ApiGateway, WebSocketSession

User = get_user_model()


@pytest.fixture
def ada(db):
    return User.objects.create_user("ada", password="pw-ada-1815")


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", password="pw-bob-1900")


def connections(make_session, user, *ids: str) -> list[WebSocketSession]:
    return [make_session(connection_id=connection_id, user=user) for connection_id in ids]


def open_ids() -> set[str]:
    return set(WebSocketSession.objects.filter(connected=True).values_list("connection_id", flat=True))


# -- the message path -------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("keep_test_connection", "ws_test_views")
def test_an_inactive_users_message_on_an_open_connection_is_a_403_that_writes_nothing(
    ada, django_assert_num_queries, websocket_handler
):
    api = ApiGateway.objects.create(api_name="chat", api_id=API_ID, stage_name=STAGE, region="eu-west-1")
    session = WebSocketSession.objects.create(connection_id=CONNECTION_ID, api_gateway=api, user=ada)
    assert websocket_handler(message_event({"action": "echo"}), None)["statusCode"] == 200
    # A bulk update sends no signal: the connection stays open, but the message path reads the user it loads.
    User.objects.filter(pk=ada.pk).update(is_active=False)
    session.refresh_from_db()
    before = (session.request_count, session.updated_on)
    with django_assert_num_queries(1):  # the session with its user and gateway, nothing more
        result = websocket_handler(message_event({"action": "echo"}), None)
    assert (result["statusCode"], result["body"]) == (403, "Forbidden.")
    session.refresh_from_db()
    assert (session.request_count, session.updated_on) == before


# -- close_connections_of -----------------------------------------------------------------------------------------


def test_close_connections_of_closes_each_open_connection_and_marks_them_in_one_update(
    management_stub, make_session, ada, bob, django_assert_num_queries
):
    connections(make_session, ada, "ada-1=", "ada-2=", "gone-ada=")
    make_session(connection_id="ada-old=", user=ada, connected=False)
    connections(make_session, bob, "bob-1=")
    with django_assert_num_queries(2):  # the open sessions with their gateways; one UPDATE
        result = close_connections_of(ada)
    assert sorted(result.closed) == ["ada-1=", "ada-2="]
    assert result.gone == ["gone-ada="]
    assert result.failed == []
    assert sorted(management_stub.stub.closed) == ["ada-1=", "ada-2="]
    assert all(request.method == "DELETE" for request in management_stub.stub.requests)
    assert open_ids() == {"bob-1="}


def test_close_connections_of_closes_them_concurrently(management_stub, make_session, ada):
    ids = [f"ada-{n}=" for n in range(8)]
    connections(make_session, ada, *ids)
    management_stub.stub.latency = 0.25
    started = time.perf_counter()
    result = close_connections_of(ada)
    elapsed = time.perf_counter() - started
    assert sorted(result.closed) == sorted(ids)
    assert elapsed < 8 * 0.25 / 2, f"{elapsed:.2f} s: the closes ran one after another"


def test_close_connections_of_a_queryset_of_users_closes_all_of_theirs(management_stub, make_session, ada, bob):
    connections(make_session, ada, "ada-1=")
    connections(make_session, bob, "bob-1=")
    make_session(connection_id="anon=")
    User.objects.update(is_active=False)
    result = close_connections_of(User.objects.filter(is_active=False))
    assert sorted(result.closed) == ["ada-1=", "bob-1="]
    assert open_ids() == {"anon="}


def test_a_connection_aws_refuses_to_close_is_reported_and_logged_and_its_row_closed(
    management_stub, make_session, ada, caplog
):
    connections(make_session, ada, "ada-1=", "denied-ada=")
    with caplog.at_level(logging.WARNING, logger="websockets_app.messaging"):
        result = close_connections_of(ada)
    assert result.closed == ["ada-1="]
    assert [(failure.connection_id, failure.code) for failure in result.failed] == [
        ("denied-ada=", "AccessDeniedException")
    ]
    assert "AccessDeniedException" in caplog.text
    # The row is closed all the same: the message path refuses a connection whose row is not open.
    assert open_ids() == set()


def test_a_user_without_connections_costs_one_query(management_stub, ada, django_assert_num_queries):
    with django_assert_num_queries(1):
        result = close_connections_of(ada)
    assert (result.closed, result.gone, result.failed) == ([], [], [])
    assert management_stub.stub.requests == []


# -- logout and deactivation ----------------------------------------------------------------------------------------


def test_logging_out_closes_the_users_connections(
    client, management_stub, make_session, ada, bob, django_capture_on_commit_callbacks
):
    connections(make_session, ada, "ada-1=", "ada-2=")
    connections(make_session, bob, "bob-1=")
    client.force_login(ada)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/logout/")
    assert response.status_code in (200, 302)
    assert sorted(management_stub.stub.closed) == ["ada-1=", "ada-2="]
    assert open_ids() == {"bob-1="}


def test_deactivating_a_user_closes_their_connections_without_an_extra_query_on_save(
    management_stub, make_session, ada, django_assert_num_queries, django_capture_on_commit_callbacks
):
    connections(make_session, ada, "ada-1=")
    user = User.objects.get(pk=ada.pk)
    user.is_active = False
    # The user's UPDATE is the only query: the old value came with the row.
    with django_capture_on_commit_callbacks(execute=False) as callbacks, django_assert_num_queries(1):
        user.save()
    assert management_stub.stub.closed == []  # nothing before the deactivation is committed
    for callback in callbacks:
        callback()
    assert management_stub.stub.closed == ["ada-1="]
    assert open_ids() == set()


@pytest.mark.parametrize(
    "change",
    ["stays-active", "already-inactive", "not-saved-field", "reactivated"],
)
def test_a_save_that_does_not_deactivate_closes_nothing(
    management_stub, make_session, ada, django_capture_on_commit_callbacks, change
):
    connections(make_session, ada, "ada-1=")
    if change == "already-inactive":
        User.objects.filter(pk=ada.pk).update(is_active=False)
    user = User.objects.get(pk=ada.pk)
    with django_capture_on_commit_callbacks(execute=True):
        if change in ("stays-active", "already-inactive"):
            user.first_name = "Ada"
            user.save()
        elif change == "not-saved-field":
            user.is_active = False
            user.save(update_fields=["first_name"])
        else:
            user.is_active = False
            user.is_active = True
            user.save()
    assert management_stub.stub.requests == []
    assert open_ids() == {"ada-1="}


def test_a_user_saved_twice_is_closed_once(management_stub, make_session, ada, django_capture_on_commit_callbacks):
    connections(make_session, ada, "ada-1=")
    user = User.objects.get(pk=ada.pk)
    with django_capture_on_commit_callbacks(execute=True):
        user.is_active = False
        user.save()
        user.save()
    assert len(management_stub.stub.requests) == 1


def test_a_new_inactive_user_and_a_deferred_is_active_field_close_nothing(
    management_stub, db, django_capture_on_commit_callbacks, django_assert_num_queries
):
    with django_capture_on_commit_callbacks(execute=True):
        User.objects.create_user("carl", is_active=False)
        deferred = User.objects.only("username").get(username="carl")
        deferred.username = "carl2"
        with django_assert_num_queries(1):  # no query to load the deferred field
            deferred.save(update_fields=["username"])
    assert management_stub.stub.requests == []


def test_a_failing_close_never_breaks_logout_or_the_save(
    client, management_stub, make_session, ada, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    connections(make_session, ada, "ada-1=")

    def broken(user):
        raise RuntimeError("the Management API is unreachable")

    monkeypatch.setattr(messaging, "close_connections_of", broken)
    client.force_login(ada)
    with caplog.at_level(logging.ERROR, logger="websockets_app.signals"):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post("/accounts/logout/").status_code in (200, 302)
        with django_capture_on_commit_callbacks(execute=True):
            ada.is_active = False
            ada.save()
    assert User.objects.get(pk=ada.pk).is_active is False
    assert caplog.text.count("Closing the connections of user") == 2
    assert "pw-ada" not in caplog.text


def test_deactivating_a_user_in_the_admin_closes_their_connections(
    admin_client, management_stub, make_session, ada, django_capture_on_commit_callbacks
):
    connections(make_session, ada, "ada-1=")
    page = admin_client.get(f"/admin/auth/user/{ada.pk}/change/")
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(
        {
            "date_joined_0": ada.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": ada.date_joined.strftime("%H:%M:%S"),
            "groups": [],
            "user_permissions": [],
        }
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.pop("is_active")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/auth/user/{ada.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.get(pk=ada.pk).is_active is False
    assert management_stub.stub.closed == ["ada-1="]
    assert open_ids() == set()


def test_closing_many_stalled_connections_ends_by_one_deadline(
    management_stub, make_session, ada, settings, monkeypatch
):
    """The closes share the deadline of the call, whatever the pool's width: not one deadline per wave of closes."""
    from websockets_app import messaging

    monkeypatch.setattr(messaging.api, "CLOSE_CONCURRENCY", 4)
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "SEND_TIMEOUT_SECONDS": 0.5}
    ids = [f"stall-{n}=" for n in range(12)]  # three waves of four
    connections(make_session, ada, *ids)
    started = time.perf_counter()
    result = close_connections_of(ada)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.2, f"{elapsed:.2f} s: each wave of closes had a deadline of its own"
    assert sorted(f.connection_id for f in result.failed) == sorted(ids)
    assert open_ids() == set()  # refused from now on, closed or not
