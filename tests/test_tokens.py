"""WebSocket tokens: issued by a logged-in, CSRF-checked POST; spent once by a $connect, within their expiry, with
the session they were issued to (or alone, when configured so)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.events import API_ID, STAGE, connect_event, message_event
from websockets_app.aws_lambda.wsgi import LambdaHandler
from websockets_app.models import ApiGateway, ConnectionRateLimit, WebSocketSession, WebSocketToken
from websockets_app.tokens import consume_token, issue_token

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection", "ws_test_views")]

TOKEN_URL = "/api/ws-token/"


@pytest.fixture(autouse=True)
def _secure_view(settings):
    settings.WEBSOCKETS = {"URL_PREFIX": "/secure/"}  # TokenEchoView: tokens on


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", password="pw")


@pytest.fixture
def connect(websocket_handler: LambdaHandler) -> Callable[..., Any]:
    """A $connect with a token, cookie and query, through the app's Lambda handler: the result."""

    def connect(token: str | None = None, cookie: str | None = None, connection_id: str = "c1=", **query: str) -> dict:
        if token is not None:
            query["ws_token"] = token
        return websocket_handler(connect_event(connection_id, query=query or None, cookie=cookie), None)

    return connect


# -- the token endpoint --------------------------------------------------------------------------------------------


def test_a_logged_in_post_gets_a_256_bit_token_of_which_only_the_hash_is_stored(client, ada, settings):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "TOKEN_EXPIRY_SECONDS": 45}
    client.force_login(ada)
    response = client.post(TOKEN_URL)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_in"}
    assert body["expires_in"] == 45
    assert len(body["token"]) == 43  # 32 random bytes, URL-safe base64
    stored = WebSocketToken.objects.get()
    assert stored.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in json.dumps(list(WebSocketToken.objects.values()), default=str)
    assert (stored.user, stored.session_key, stored.used) == (ada, client.session.session_key, False)
    assert "no-store" in response["Cache-Control"]


def test_every_request_gets_a_different_token(client, ada):
    client.force_login(ada)
    tokens = {client.post(TOKEN_URL).json()["token"] for _ in range(5)}
    assert len(tokens) == 5


def test_an_anonymous_post_is_refused_and_stores_nothing(client):
    response = client.post(TOKEN_URL)
    assert response.status_code == 403
    assert response.json() == {"error": "Log in to request a WebSocket token."}
    assert not WebSocketToken.objects.exists()


def test_a_token_is_never_handed_out_over_get(client, ada):
    client.force_login(ada)
    assert client.get(TOKEN_URL).status_code == 405
    assert not WebSocketToken.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(ada):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(ada)
    assert browser.post(TOKEN_URL).status_code == 403
    assert not WebSocketToken.objects.exists()


def test_a_post_with_the_csrf_token_gets_a_token(ada):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(ada)
    browser.get("/admin/login/")  # any page that renders a form sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    assert browser.post(TOKEN_URL, headers={"X-CSRFToken": csrf}).status_code == 200


def test_token_requests_over_the_per_user_limit_get_429_and_create_nothing(client, ada, django_user_model, settings):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "TOKEN_RATE_LIMIT_ATTEMPTS": 3, "TOKEN_RATE_LIMIT_WINDOW_SECONDS": 30}
    client.force_login(ada)
    assert [client.post(TOKEN_URL).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.post(TOKEN_URL)
    assert (refused.status_code, refused["Retry-After"]) == (429, "30")
    assert WebSocketToken.objects.count() == 3
    other = Client()
    other.force_login(django_user_model.objects.create_user("bob"))
    assert other.post(TOKEN_URL).status_code == 200  # the limit is per user


def test_tokens_older_than_the_token_window_no_longer_count(ada, settings):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "TOKEN_RATE_LIMIT_ATTEMPTS": 1, "TOKEN_RATE_LIMIT_WINDOW_SECONDS": 30}
    issue_token(ada, "k" * 32)
    WebSocketToken.objects.update(created_at=timezone.now() - timedelta(seconds=31))
    assert issue_token(ada, "k" * 32).token


def test_no_token_rate_limit_when_it_is_switched_off(ada, settings):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "TOKEN_RATE_LIMIT_ATTEMPTS": None}
    for _ in range(40):
        issue_token(ada, "k" * 32)
    assert WebSocketToken.objects.count() == 40


# -- spending a token on $connect -------------------------------------------------------------------------------


def test_a_connect_with_a_fresh_token_and_its_session_is_accepted_as_the_tokens_user(login_token, ada, connect):
    token, cookie = login_token(ada)
    assert connect(token, cookie)["statusCode"] == 200
    assert WebSocketSession.objects.get().user == ada
    assert WebSocketToken.objects.get().used is True
    attempt = ConnectionRateLimit.objects.get()
    assert (attempt.user, attempt.successful) == (ada, True)


def test_the_connection_acts_as_the_tokens_user_afterwards(login_token, ada, connect, websocket_handler):
    token, cookie = login_token(ada)
    connect(token, cookie)
    reply = websocket_handler(message_event({"action": "echo"}, connection_id="c1="), None)
    assert json.loads(reply["body"])["user"] == "ada"


def test_a_token_connects_only_once(login_token, ada, connect):
    token, cookie = login_token(ada)
    assert connect(token, cookie, "first=")["statusCode"] == 200
    assert connect(token, cookie, "second=")["statusCode"] == 403
    assert list(WebSocketSession.objects.values_list("connection_id", flat=True)) == ["first="]


def test_an_expired_token_is_refused(login_token, ada, settings, connect):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "TOKEN_EXPIRY_SECONDS": 30}
    token, cookie = login_token(ada)
    WebSocketToken.objects.update(created_at=timezone.now() - timedelta(seconds=31))
    assert connect(token, cookie)["statusCode"] == 403
    assert not WebSocketSession.objects.exists()
    assert WebSocketToken.objects.get().used is False  # refused, not spent


def test_a_token_just_inside_its_expiry_is_accepted(login_token, ada, settings, connect):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "TOKEN_EXPIRY_SECONDS": 30}
    token, cookie = login_token(ada)
    WebSocketToken.objects.update(created_at=timezone.now() - timedelta(seconds=28))
    assert connect(token, cookie)["statusCode"] == 200


@pytest.mark.parametrize(
    "token",
    [None, "", "short", "x" * 43 + "!", "A" * 44, "A" * 43, "%00" * 15, "' OR 1=1 --" + "a" * 32],
    ids=["missing", "empty", "short", "bad-char", "too-long", "unknown", "nul", "sql"],
)
def test_a_missing_malformed_or_unknown_token_is_refused_and_counted(token, login_token, ada, connect):
    _, cookie = login_token(ada)
    result = connect(token, cookie)
    assert (result["statusCode"], result["body"]) == (403, "Forbidden.")
    assert not WebSocketSession.objects.exists()
    assert list(ConnectionRateLimit.objects.values_list("successful", flat=True)) == [False]


def test_a_token_with_another_session_is_refused(login_token, ada, client, connect):
    token, _ = login_token(ada)
    other_browser = Client()
    other_browser.force_login(ada)  # the same user, but a session the token was not issued to
    assert connect(token, f"sessionid={other_browser.cookies['sessionid'].value}")["statusCode"] == 403
    assert not WebSocketSession.objects.exists()


def test_a_token_presented_in_another_users_session_is_refused(login_token, ada, django_user_model, connect):
    token, _ = login_token(ada)
    bob_browser = Client()
    bob_browser.force_login(django_user_model.objects.create_user("bob"))
    assert connect(token, f"sessionid={bob_browser.cookies['sessionid'].value}")["statusCode"] == 403
    assert not WebSocketSession.objects.exists()


def test_a_token_without_its_session_cookie_is_refused_by_default(login_token, ada, connect):
    token, _ = login_token(ada)
    assert connect(token)["statusCode"] == 403


def test_with_token_only_authentication_the_token_alone_connects(login_token, ada, settings, connect):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "TOKEN_REQUIRES_SESSION": False}
    token, _ = login_token(ada)
    assert connect(token)["statusCode"] == 200
    assert WebSocketSession.objects.get().user == ada


def test_with_token_only_authentication_a_different_session_cookie_is_still_refused(
    login_token, ada, settings, connect
):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "TOKEN_REQUIRES_SESSION": False}
    token, _ = login_token(ada)
    other_browser = Client()
    other_browser.force_login(ada)
    assert connect(token, f"sessionid={other_browser.cookies['sessionid'].value}")["statusCode"] == 403


def test_a_token_of_a_user_deactivated_since_is_refused(login_token, ada, connect):
    token, cookie = login_token(ada)
    ada.is_active = False
    ada.save()
    assert connect(token, cookie)["statusCode"] == 403


def test_a_bad_channel_is_refused_before_the_token_is_spent(login_token, ada, connect):
    token, cookie = login_token(ada)
    assert connect(token, cookie, channel="bad channel!")["statusCode"] == 400
    assert WebSocketToken.objects.get().used is False
    assert connect(token, cookie, channel="good")["statusCode"] == 200  # the same token still works


def test_consume_token_spends_with_one_conditional_update(ada, django_assert_num_queries):
    issued = issue_token(ada, "k" * 32)
    with django_assert_num_queries(2):  # the UPDATE, then the row with its user
        token = consume_token(issued.token)
    assert token.user == ada
    assert consume_token(issued.token) is None


def test_a_view_without_tokens_takes_the_user_from_the_session(settings, client, ada, websocket_handler):
    settings.WEBSOCKETS = {}  # /ws/: EchoView, USE_WS_TOKEN = False
    client.force_login(ada)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    assert websocket_handler(connect_event(cookie=cookie), None)["statusCode"] == 200
    assert WebSocketSession.objects.get().user == ada


def test_the_admin_shows_a_prefix_of_the_hash_never_the_token(admin_client, login_token, ada):
    token, _ = login_token(ada)
    stored = WebSocketToken.objects.get()
    page = admin_client.get(f"/admin/websockets_app/websockettoken/{stored.pk}/change/").content.decode()
    assert stored.token_hash[:10] in page
    assert token not in page
    assert stored.token_hash not in page


def test_a_connect_with_a_token_takes_a_fixed_number_of_queries(login_token, ada, django_assert_num_queries, connect):
    from tests.test_views import CONNECT_QUERIES

    ApiGateway.objects.create(api_name="chat", api_id=API_ID, stage_name=STAGE)
    token, cookie = login_token(ada)
    # The token's UPDATE and its row with the user take the place of the session and user lookups.
    with django_assert_num_queries(CONNECT_QUERIES):
        assert connect(token, cookie)["statusCode"] == 200
