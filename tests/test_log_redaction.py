"""No raw WebSocket token in any log line: refusals, failures, middleware errors, both log formats, every path."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.signals import got_request_exception
from django.http import HttpRequest
from django.urls import include, path

from infra import observability
from infra.handlers import handler
from project.wsgi import application
from tests.events import DOMAIN, FakeLambdaContext, connect_event
from websockets_app import redaction
from websockets_app.models import WebSocketToken
from websockets_app.urls import websocket_path
from websockets_app.views import WebSocketView

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]

FORGED_TOKEN = "forged-token-Zq9xVb3NwR7kLp2M"


class ExplodingConnectView(WebSocketView):
    """A connect that fails with the request's URL in its message, as careless code does."""

    def connect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"cannot connect {request.get_full_path()} ({request.GET.dict()})")


class TicketView(WebSocketView):
    token_query_parameter = "ticket"


urlpatterns = [
    path("ticket/<slug:route>", TicketView.as_view()),
    websocket_path(ExplodingConnectView.as_view()),
    path("", include("project.urls")),
]


def explode_before_the_view(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    def middleware(request: HttpRequest) -> Any:
        raise RuntimeError(f"middleware failed on {request.get_full_path()}")

    return middleware


def configured_formatter(name: str) -> logging.Formatter:
    """The formatter the project's LOGGING setting builds for ``name`` (json or text)."""
    config = dict(django_settings.LOGGING["formatters"][name])
    return logging.config.DictConfigurator({}).configure_formatter(config)


@pytest.fixture(params=["json", "text"])
def log_output(request, capfd, settings) -> Iterator[Callable[[], str]]:
    """Everything logged during the test, formatted as the project formats it in the parametrized log format.

    JSON: the root handler's formatter after ``share_log_keys_with_django`` (what Lambda prints) and the one built
    from LOGGING (manage.py, runserver); text: the one built from LOGGING. Plus whatever reaches stdout / stderr.
    """
    settings.ALLOWED_HOSTS = [DOMAIN, "testserver"]
    buffer = io.StringIO()
    if request.param == "json":
        formatters = [observability.logger.registered_formatter, configured_formatter("json")]
    else:
        formatters = [configured_formatter("text")]
    handlers = []
    for formatter in formatters:
        each = logging.StreamHandler(buffer)
        each.setFormatter(formatter)
        handlers.append(each)
    loggers = [logging.getLogger(), logging.getLogger("django"), logging.getLogger(observability.SERVICE)]
    for logger in loggers:
        for each in handlers:
            logger.addHandler(each)

    def read() -> str:
        captured = capfd.readouterr()
        return buffer.getvalue() + captured.out + captured.err

    yield read
    for logger in loggers:
        for each in handlers:
            logger.removeHandler(each)


@pytest.fixture
def live_token(login_token, django_user_model) -> tuple[str, str]:
    return login_token(django_user_model.objects.create_user("ada"))


def connect(query: dict[str, str], cookie: str | None = None, **headers: str) -> int:
    event = connect_event(query=query, cookie=cookie, headers=headers or None)
    return handler(event, FakeLambdaContext())["statusCode"]


def assert_logged_without(read: Callable[[], str], secret: str, evidence: str) -> None:
    output = read()
    assert evidence in output, output  # the refusal or failure was logged...
    assert secret not in output  # ...without the token


def test_a_connect_refused_for_its_channel_logs_no_token(log_output, live_token):
    token, cookie = live_token
    assert connect({"ws_token": token, "channel": "not a channel!"}, cookie) == 400
    assert_logged_without(log_output, token, "refused")
    assert WebSocketToken.objects.get().used is False  # the token is still live: all the more reason


def test_a_connect_refused_for_its_origin_logs_no_token(log_output, live_token, settings):
    settings.WEBSOCKETS = {"ALLOWED_ORIGINS": ["https://www.example.com"]}
    token, cookie = live_token
    assert connect({"ws_token": token}, cookie, Origin="https://evil.example.net") == 403
    assert_logged_without(log_output, token, "origin not allowed")


def test_a_connect_with_a_bad_token_logs_no_token(log_output):
    assert connect({"ws_token": FORGED_TOKEN}) == 403
    assert_logged_without(log_output, FORGED_TOKEN, "refused")


def test_a_connect_whose_view_raises_logs_no_token(log_output, live_token, settings):
    settings.ROOT_URLCONF = __name__
    token, cookie = live_token
    seen_by_receivers: list[str] = []

    def receiver(sender: Any, request: HttpRequest, **kwargs: Any) -> None:
        seen_by_receivers.append(f"{request!r} {request.get_full_path()} {request.GET!r} {request.META!r}")

    got_request_exception.connect(receiver)
    try:
        assert connect({"ws_token": token, "channel": "lobby"}, cookie) == 500
    finally:
        got_request_exception.disconnect(receiver)
    assert_logged_without(log_output, token, "cannot connect")
    assert seen_by_receivers
    assert token not in "".join(seen_by_receivers)
    assert "channel=lobby" in seen_by_receivers[0]  # the rest of the query string is kept


def test_a_middleware_that_raises_before_the_view_logs_no_token(log_output, live_token, settings):
    token, cookie = live_token
    original = settings.MIDDLEWARE
    settings.MIDDLEWARE = [f"{__name__}.explode_before_the_view", *original]
    application.load_middleware()  # the Lambda handler's WSGI app built its middleware chain at import
    seen_by_receivers: list[str] = []

    def receiver(sender: Any, request: HttpRequest, **kwargs: Any) -> None:
        seen_by_receivers.append(f"{request!r} {request.get_full_path()} {request.GET!r} {request.META!r}")

    got_request_exception.connect(receiver)
    try:
        assert connect({"ws_token": token}, cookie) == 500
    finally:
        got_request_exception.disconnect(receiver)
        settings.MIDDLEWARE = original
        application.load_middleware()
    assert_logged_without(log_output, token, "middleware failed")
    assert seen_by_receivers
    assert token not in "".join(seen_by_receivers)


def test_the_token_taken_out_before_django_still_connects(live_token, settings):
    settings.ALLOWED_HOSTS = [DOMAIN, "testserver"]
    token, cookie = live_token
    assert connect({"ws_token": token, "channel": "lobby"}, cookie) == 200
    assert WebSocketToken.objects.get().used is True
    # The same token again: spent, so refused.
    assert connect({"ws_token": token, "channel": "lobby"}, cookie) == 403


def test_a_views_own_token_parameter_is_redacted_too(log_output, settings):
    settings.ROOT_URLCONF = __name__
    settings.WEBSOCKETS = {"URL_PREFIX": "/ticket/"}
    assert connect({"ticket": FORGED_TOKEN, "channel": "not a channel!"}) == 400
    assert_logged_without(log_output, FORGED_TOKEN, "refused")


def test_the_view_takes_the_token_out_of_the_request_before_anything_else(rf):
    request = rf.post(f"/ws/connect?channel=lobby&ws_token={FORGED_TOKEN}&x=%2B1")
    # Refused (not from API Gateway), and still nobody after the view sees the token.
    assert WebSocketView.as_view()(request, route="connect").status_code == 403
    assert request.META["QUERY_STRING"] == "channel=lobby&ws_token=***&x=%2B1"
    assert request.GET.getlist("ws_token") == ["***"]
    assert request.GET["x"] == "+1"
    assert FORGED_TOKEN not in repr(request)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<WSGIRequest: POST '/ws/connect?ws_token=abc-DEF_1'>", "<WSGIRequest: POST '/ws/connect?ws_token=***'>"),
        ("/ws/connect?channel=a&ws_token=abc&x=1", "/ws/connect?channel=a&ws_token=***&x=1"),
        ("<QueryDict: {'ws_token': ['abc'], 'c': ['d']}>", "<QueryDict: {'ws_token': ['***'], 'c': ['d']}>"),
        ('{"ws_token": "abc", "c": 1}', '{"ws_token": "***", "c": 1}'),
        ('{"m": "{\\"ws_token\\": \\"abc\\"}"}', '{"m": "{\\"ws_token\\": \\"***\\"}"}'),
        ("next=%2Fws%2Fconnect%3Fws_token%3Dabc%26c%3D1", "next=%2Fws%2Fconnect%3Fws_token%3D***%26c%3D1"),
        ("nothing to see", "nothing to see"),
        ("my_ws_token=abc", "my_ws_token=abc"),  # another parameter that only ends like it
    ],
)
def test_redact_finds_the_token_in_every_shape_a_log_line_prints(text, expected):
    assert redaction.redact(text) == expected


def test_redact_query_string_keeps_every_other_parameter_byte_for_byte():
    assert redaction.redact_query_string("a=%20b&ws_token=x+y&ws%5Ftoken=z&c") == "a=%20b&ws_token=***&ws%5Ftoken=***&c"


def test_the_local_gateways_log_lines_redact_what_an_invoker_error_quotes(capsys):
    from infra.local.__main__ import configure_logging

    log = configure_logging()
    try:
        log.info("WS   CONNECT abc= 500 1.0 ms ?ws_token=*** (RuntimeError: failed on /ws/connect?ws_token=%s)", "live")
        log.info("WS   CONNECT abc= 500 1.0 ms ?ticket=*** (%r)", {"ticket": "live"})
    finally:
        for each in list(log.handlers):
            log.removeHandler(each)
    output = capsys.readouterr().out
    assert "ws_token=***" in output
    assert "live" not in output


def test_the_lambda_path_takes_the_token_out_before_django_and_hides_it_from_reprs():
    environ = {"QUERY_STRING": f"ws_token=first&channel=a%20b&ws_token={FORGED_TOKEN}"}
    redaction.take_query_tokens(environ)
    assert environ["QUERY_STRING"] == "ws_token=***&channel=a%20b&ws_token=***"
    taken = environ[redaction.QUERY_TOKENS_ENVIRON_KEY]
    assert taken.get("ws_token") == FORGED_TOKEN  # the last one, as request.GET.get() reads it
    assert FORGED_TOKEN not in repr(environ)
    assert not hasattr(taken, "__dict__")


def test_without_a_token_the_environ_is_left_alone():
    environ = {"QUERY_STRING": "channel=lobby&my_ws_token_hint=x"}
    redaction.take_query_tokens(environ)
    assert environ == {"QUERY_STRING": "channel=lobby&my_ws_token_hint=x"}
