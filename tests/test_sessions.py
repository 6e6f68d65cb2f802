"""Session keys Django never issues are no session at all, and cost no query."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.base import SessionBase

from project.sessions import SessionStore
from tests.events import DOMAIN, connect_event

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("key", ["abcdefgh\x00ijkl", "abcdefgh ijkl", "abcdefgh\u00e9ijkl", "abcdefgh;ijkl", "short"])
def test_a_key_django_could_not_have_issued_is_no_session(key, django_assert_num_queries):
    store = SessionStore(key)
    assert store.session_key is None
    with django_assert_num_queries(0):
        assert dict(store.items()) == {}  # how the middleware reads it


def test_a_real_key_still_loads_its_session():
    store = SessionStore()
    store["answer"] = 42
    store.save()
    assert SessionStore(store.session_key).load() == {"answer": 42}


def test_the_project_uses_this_store(settings):
    from importlib import import_module

    assert import_module(settings.SESSION_ENGINE).SessionStore is SessionStore
    assert issubclass(SessionStore, SessionBase)


@pytest.mark.usefixtures("keep_test_connection")
def test_a_connect_whose_session_cookie_unescapes_to_a_nul_is_served(settings, websocket_handler):
    settings.ALLOWED_HOSTS = [DOMAIN]
    settings.ROOT_URLCONF = "tests.ws_urls"  # a view without tokens: the connect is accepted on its cookie alone
    result = websocket_handler(connect_event(cookie='sessionid="abcdefgh\\000ijkl"'), None)
    assert result["statusCode"] == 200
