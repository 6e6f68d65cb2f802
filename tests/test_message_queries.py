"""The precompiled message queries load exactly what the ORM loads, on every database the suite runs on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from websockets_app import message_queries
from websockets_app.models import WebSocketSession

pytestmark = pytest.mark.django_db


def field_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


@pytest.fixture
def full_session(make_gateway, django_user_model):
    gateway = make_gateway(
        api_id="q1w2e3", region="eu-west-1", tags={"team": "web", "cost": "7"}, default_channel_name="lobby"
    )
    user = django_user_model.objects.create_user("ada", email="ada@example.com", password="pw", first_name="Ada")
    user.last_login = timezone.now() - timedelta(days=1)
    user.save()
    return WebSocketSession.objects.create(
        connection_id="full=", user=user, api_gateway=gateway, channel_name="Zimmer 7 – Küche", request_count=41
    )


def test_a_session_with_user_and_gateway_matches_the_orm(full_session, django_assert_num_queries):
    expected = WebSocketSession.objects.select_related("user", "api_gateway").get(pk=full_session.pk)
    with django_assert_num_queries(1):
        loaded = message_queries.connected_session("full=")
        user, gateway = loaded.user, loaded.api_gateway  # already loaded: no further query
    assert field_values(loaded) == field_values(expected)
    assert field_values(user) == field_values(expected.user)
    assert field_values(gateway) == field_values(expected.api_gateway)
    assert gateway.tags == {"team": "web", "cost": "7"}
    assert loaded._state.adding is False
    assert loaded._state.db == "default"


def test_a_session_without_user_or_gateway_has_none_for_both(make_session, django_assert_num_queries):
    make_session(connection_id="bare=", api_gateway=None)
    with django_assert_num_queries(1):
        loaded = message_queries.connected_session("bare=")
        assert (loaded.user, loaded.api_gateway) == (None, None)


def test_unknown_and_disconnected_sessions_are_not_found(make_session):
    make_session(connection_id="gone=", connected=False)
    assert message_queries.connected_session("gone=") is None
    assert message_queries.connected_session("never=") is None


def test_count_message_adds_one_and_touches_updated_on(full_session, django_assert_num_queries):
    before = full_session.updated_on
    with django_assert_num_queries(1):
        message_queries.count_message(full_session)
    stored = WebSocketSession.objects.get(pk=full_session.pk)
    assert stored.request_count == 42 == full_session.request_count
    assert stored.updated_on > before
    assert stored.updated_on == full_session.updated_on


def test_a_loaded_session_saves_like_an_orm_one(full_session):
    loaded = message_queries.connected_session("full=")
    loaded.channel_name = "hall"
    loaded.save(update_fields=["channel_name"])
    assert WebSocketSession.objects.get(pk=full_session.pk).channel_name == "hall"
