"""The precompiled message queries load exactly what the ORM loads, on every database the suite runs on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models.query_utils import DeferredAttribute
from django.test.utils import isolate_apps
from django.utils import timezone

from websockets_app import message_queries
from websockets_app.messaging.endpoints import ENDPOINT_FIELDS, endpoint_of
from websockets_app.models import ApiGateway, WebSocketSession

pytestmark = pytest.mark.django_db


def as_the_orm_loads_it(pk: int) -> WebSocketSession:
    """The session as ``connected_session`` loads it, through the ORM: with its user, and its gateway's endpoint
    fields (the others deferred)."""
    deferred = [
        f"api_gateway__{field.name}"
        for field in ApiGateway._meta.concrete_fields
        if not field.primary_key and field.name not in ENDPOINT_FIELDS
    ]
    return WebSocketSession.objects.select_related("user", "api_gateway").defer(*deferred).get(pk=pk)


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
        assert endpoint_of(gateway) == endpoint_of(expected.api_gateway)  # what sending reads is loaded
    assert gateway.get_deferred_fields() == {
        field.attname for field in ApiGateway._meta.concrete_fields if field.name not in {"id", *ENDPOINT_FIELDS}
    }
    with django_assert_num_queries(1):
        assert gateway.tags == {"team": "web", "cost": "7"}  # a deferred field loads as Django loads one
    assert field_values(loaded) == field_values(expected)
    assert field_values(user) == field_values(expected.user)
    assert field_values(gateway) == field_values(expected.api_gateway)  # the deferred ones loaded on reading
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


def instance_state(instance) -> dict:
    """Everything an instance holds but its relation caches: its attributes and what receivers stored on it."""
    values = {key: value for key, value in vars(instance).items() if key != "_state"}
    return {**values, "_state.adding": instance._state.adding, "_state.db": instance._state.db}


def test_the_instances_hold_what_the_orms_hold(full_session):
    expected = as_the_orm_loads_it(full_session.pk)
    loaded = message_queries.connected_session("full=")
    assert instance_state(loaded) == instance_state(expected)
    assert instance_state(loaded.user) == instance_state(expected.user)  # the post_init receiver's mark included
    assert instance_state(loaded.api_gateway) == instance_state(expected.api_gateway)
    assert loaded.created_on.tzinfo is not None


@pytest.mark.parametrize("model", ["session", "user", "gateway"])
def test_the_instances_are_announced_as_the_orm_announces_them(full_session, model):
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_init, pre_init

    sender = {"session": WebSocketSession, "user": get_user_model(), "gateway": ApiGateway}[model]
    seen: dict[str, list] = {"orm": [], "message": []}
    target: list[str] = ["orm"]

    def before(sender, args, kwargs, **_):
        seen[target[0]].append(("pre", sender, args, kwargs))

    def after(sender, instance, **_):
        seen[target[0]].append(("post", sender, instance.pk, instance._state.adding, instance._state.db))

    pre_init.connect(before, sender=sender)
    post_init.connect(after, sender=sender)
    try:
        as_the_orm_loads_it(full_session.pk)
        target[0] = "message"
        message_queries.connected_session("full=")
    finally:
        pre_init.disconnect(before, sender=sender)
        post_init.disconnect(after, sender=sender)
    assert seen["message"] == seen["orm"]
    assert [entry[0] for entry in seen["message"]] == ["pre", "post"]


def test_datetimes_are_naive_without_time_zone_support(full_session, settings):
    settings.USE_TZ = False
    expected = WebSocketSession.objects.select_related("user", "api_gateway").get(pk=full_session.pk)
    loaded = message_queries.connected_session("full=")
    assert field_values(loaded) == field_values(expected)
    assert field_values(loaded.user) == field_values(expected.user)
    assert loaded.created_on.tzinfo is None


@isolate_apps("websockets_app")
def test_models_that_make_their_instances_otherwise_are_made_by_from_db():
    from django.db import models

    class Named(models.Model):
        name = models.CharField(max_length=10)

        class Meta:
            abstract = True
            app_label = "websockets_app"

        def __str__(self) -> str:
            return self.name

    class Plain(Named):
        pass

    class OwnInit(Named):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)

    class OwnFromDb(Named):
        @classmethod
        def from_db(cls, db, field_names, values):
            return super().from_db(db, field_names, values)

    class Guarded(Named):
        pass

    class Setter(DeferredAttribute):
        def __set__(self, instance, value):
            instance.__dict__["name"] = value.strip()

    Guarded.name = Setter(Guarded._meta.get_field("name"))

    assert message_queries._makes_plainly(Plain, ["id", "name"])
    assert not message_queries._makes_plainly(OwnInit, ["id", "name"])
    assert not message_queries._makes_plainly(OwnFromDb, ["id", "name"])
    assert not message_queries._makes_plainly(Guarded, ["id", "name"])


@isolate_apps("websockets_app")
def test_only_columns_whose_value_does_not_change_are_selected_without_their_declared_type():
    from django.db import connection, models

    class Columns(models.Model):
        day = models.DateField()
        at = models.TimeField()
        name = models.CharField(max_length=10)
        seen = models.DateTimeField()

        class Meta:
            app_label = "websockets_app"

        def __str__(self) -> str:
            return self.name

    def undeclared(name: str, converted_from_stored: bool = False) -> bool:
        field = Columns._meta.get_field(name)
        return message_queries._undeclared_gives_the_same(field, connection, converted_from_stored)

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's declared types only")
    assert undeclared("name")  # varchar: no converter registered
    assert not undeclared("day")  # the driver's date converter gives what Django's own expects
    assert not undeclared("at")
    assert not undeclared("seen")
    assert undeclared("seen", converted_from_stored=True)


@pytest.mark.parametrize("offset_hours", [0, 2, -7])
def test_datetimes_are_written_as_the_backend_writes_them(offset_hours):
    from datetime import UTC, datetime
    from datetime import timezone as fixed

    from django.db import connection

    moment = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC).astimezone(fixed(timedelta(hours=offset_hours)))
    for value in (moment, moment.replace(microsecond=0), None):
        assert message_queries._datetime_value(value, connection) == connection.ops.adapt_datetimefield_value(value)


@pytest.mark.parametrize("use_tz", [True, False], ids=["aware", "naive"])
def test_sqlite_datetime_text_is_read_as_the_backend_reads_it(settings, use_tz):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite stores datetimes as text")
    settings.USE_TZ = use_tz
    stored = [
        "2026-03-29 01:30:15.123456",
        "2026-03-29 01:30:15",
        "2026-03-29T01:30:15.5",
        "2026-03-29 01:30:15+02:00",  # an offset written by something other than Django
        "2026-03-29 01:30:15Z",
        "2026-03-29",
    ]
    values = list(stored)
    message_queries._parse_datetimes(values, tuple(range(len(stored))), connection)
    expected = [connection.ops.convert_datetimefield_value(text, None, connection) for text in stored]
    assert values == expected
    assert [value.utcoffset() for value in values] == [value.utcoffset() for value in expected]


@isolate_apps("websockets_app")
def test_a_joined_row_is_missing_only_when_its_primary_key_is_null():
    from django.db import connection, models

    class KeyedLater(models.Model):  # a user model may declare its own key after other fields
        seen = models.DateTimeField(null=True)
        code = models.CharField(max_length=10, primary_key=True)

        class Meta:
            app_label = "websockets_app"

        def __str__(self) -> str:
            return self.code

    part = message_queries._part(KeyedLater, "k", 1, connection)
    found = part.build_joined("default", ("session column", None, "k1"), connection)
    assert (found.code, found.seen) == ("k1", None)
    assert part.build_joined("default", ("session column", None, None), connection) is None
