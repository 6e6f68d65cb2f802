"""Django permissions: a view's any-of and all-of lists, and per-handler rules, for every kind of user."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.core.exceptions import PermissionDenied

from tests.events import DOMAIN, connect_event, message_event
from websockets_app.aws_lambda.wsgi import LambdaHandler
from websockets_app.models import WebSocketSession
from websockets_app.permissions import PermissionRule, handler_permissions

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]

VIEW = "websockets_app.view_websocketsession"
CHANGE = "websockets_app.change_websocketsession"
DELETE = "websockets_app.delete_websocketsession"


@pytest.fixture
def make_user(django_user_model):
    def make(*perms: str, superuser: bool = False, active: bool = True):
        user = django_user_model.objects.create_user(
            f"u{django_user_model.objects.count()}", is_superuser=superuser, is_active=active
        )
        codenames = [perm.split(".")[1] for perm in perms]
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        return django_user_model.objects.get(pk=user.pk)  # fresh: no permission cache

    return make


# Every combination of the two lists against every holding of two permissions.
RULES = {
    "none": PermissionRule(),
    "any": PermissionRule(any_of=(VIEW, CHANGE)),
    "all": PermissionRule(all_of=(VIEW, CHANGE)),
    "any+all": PermissionRule(any_of=(VIEW,), all_of=(CHANGE,)),
}
HOLDINGS = {"nothing": (), "view": (VIEW,), "change": (CHANGE,), "both": (VIEW, CHANGE)}
EXPECTED = {
    ("none", "nothing"): True,
    ("none", "view"): True,
    ("none", "change"): True,
    ("none", "both"): True,
    ("any", "nothing"): False,
    ("any", "view"): True,
    ("any", "change"): True,
    ("any", "both"): True,
    ("all", "nothing"): False,
    ("all", "view"): False,
    ("all", "change"): False,
    ("all", "both"): True,
    ("any+all", "nothing"): False,
    ("any+all", "view"): False,
    ("any+all", "change"): False,
    ("any+all", "both"): True,
}


def passes(rule: PermissionRule, user) -> bool:
    try:
        rule.check(user)
    except PermissionDenied:
        return False
    return True


@pytest.mark.parametrize(("rule", "holding"), sorted(EXPECTED))
def test_every_rule_against_every_holding(make_user, rule, holding):
    assert passes(RULES[rule], make_user(*HOLDINGS[holding])) is EXPECTED[(rule, holding)]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_an_active_superuser_passes_every_rule(make_user, rule):
    assert passes(RULES[rule], make_user(superuser=True))


@pytest.mark.parametrize("rule", sorted(RULES))
def test_inactive_users_and_anonymous_pass_only_the_empty_rule(make_user, rule):
    for user in (make_user(VIEW, CHANGE, superuser=True, active=False), AnonymousUser()):
        assert passes(RULES[rule], user) is (rule == "none")


def test_handler_permissions_needs_at_least_one_list():
    with pytest.raises(ValueError, match="any_of or all_of"):
        handler_permissions()


# -- per-handler rules through real events ------------------------------------------------------------------------


@pytest.fixture
def connect_as(settings, client, make_user, websocket_handler):
    settings.ROOT_URLCONF = "tests.ws_urls"
    settings.ALLOWED_HOSTS = [DOMAIN, "testserver"]
    settings.WEBSOCKETS = {"URL_PREFIX": "/guarded/"}

    def connect(*perms: str) -> str:
        user = make_user(*perms)
        client.force_login(user)
        connection_id = f"{user.username}="
        event = connect_event(connection_id, cookie=f"sessionid={client.cookies['sessionid'].value}")
        assert websocket_handler(event, None)["statusCode"] == 200
        return connection_id

    return connect


@pytest.fixture
def send(websocket_handler: LambdaHandler) -> Callable[..., Any]:
    """A message selecting ``action``, through the app's Lambda handler: its status."""

    def send(connection_id: str, action: str) -> int:
        return websocket_handler(message_event({"action": action}, connection_id=connection_id), None)["statusCode"]

    return send


@pytest.mark.parametrize(
    ("perms", "peek", "purge"),
    [
        ((), 403, 403),
        ((VIEW,), 200, 403),
        ((CHANGE,), 200, 403),
        ((DELETE,), 403, 403),
        ((VIEW, DELETE), 200, 200),
        ((VIEW, CHANGE, DELETE), 200, 200),
    ],
)
def test_handler_rules_apply_to_their_handler_only(connect_as, perms, peek, purge, send):
    connection_id = connect_as(*perms)
    assert (send(connection_id, "hello"), send(connection_id, "peek"), send(connection_id, "purge")) == (
        200,
        peek,
        purge,
    )


def test_a_message_refused_by_a_handler_rule_is_not_counted(connect_as, websocket_handler):
    connection_id = connect_as()
    before = WebSocketSession.objects.get().request_count
    result = websocket_handler(message_event({"action": "purge"}, connection_id=connection_id), None)
    assert (result["statusCode"], result["body"]) == (403, "Forbidden.")
    assert WebSocketSession.objects.get().request_count == before
    reply = websocket_handler(message_event({"action": "hello"}, connection_id=connection_id), None)
    assert json.loads(reply["body"]) == {"handler": "hello"}
