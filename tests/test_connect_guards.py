"""What a $connect must get past before a session is recorded: the Origin check, the client address, and the
connection rate limits. Every refused attempt is counted; nothing else is written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import RequestFactory
from django.utils import timezone

from tests.events import SOURCE_IP, connect_event, request_context
from websockets_app.aws_lambda.wsgi import LambdaHandler
from websockets_app.gateway import HTTP, LAMBDA, GatewayContext, client_ip
from websockets_app.models import ApiGateway, ConnectionRateLimit, WebSocketSession
from websockets_app.origins import Origin, origin_allowed
from websockets_app.rate_limits import ConnectionLimits, RateLimited, admit_connection

# The test views: EchoView has no tokens, so these tests see the other guards alone.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection", "ws_test_views")]


@pytest.fixture
def connect(websocket_handler: LambdaHandler) -> Callable[..., Any]:
    """A $connect (with an Origin unless None), through the app's Lambda handler: the result."""

    def connect(connection_id: str = "c1=", *, origin: str | None = "https://www.example.com", **kwargs) -> dict:
        event = connect_event(connection_id, **kwargs)
        if origin is None:
            del event["headers"]["Origin"], event["multiValueHeaders"]["Origin"]
        else:
            event["headers"]["Origin"] = origin
            event["multiValueHeaders"]["Origin"] = [origin]
        return websocket_handler(event, None)

    return connect


def attempts() -> list[tuple[str, int, int]]:
    return list(ConnectionRateLimit.objects.order_by("pk").values_list("ip_address", "successful", "refused"))


# -- Origin ---------------------------------------------------------------------------------------------------------

ALLOWED = ["https://example.com", "https://.example.org", "http://localhost:8000"]


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://example.com", True),
        ("https://EXAMPLE.com", True),
        ("https://example.com:443", True),
        ("https://example.com.", True),
        ("https://example.org", True),
        ("https://chat.example.org", True),
        ("https://a.b.example.org", True),
        ("http://localhost:8000", True),
        ("https://example.com.evil.net", False),
        ("https://evil.net/example.com", False),
        ("https://notexample.com", False),
        ("https://www.example.com", False),  # no leading dot: no subdomains
        ("https://evilexample.org", False),
        ("https://example.org.evil.net", False),
        ("http://example.com", False),  # scheme
        ("https://example.com:8443", False),  # port
        ("http://localhost", False),
        ("http://localhost:8001", False),
        ("https://example.com/", False),  # an origin has no path
        ("https://user@example.com", False),
        ("null", False),
        ("", False),
        (None, False),
        ("https://.example.org", False),  # a pattern is not an origin
        ("https://example.com\x00.evil.net", False),
    ],
)
def test_origins_match_exactly_or_as_a_subdomain_of_a_leading_dot_entry(origin, allowed):
    assert origin_allowed(origin, ALLOWED) is allowed


def test_no_origin_list_means_no_origin_check():
    assert origin_allowed(None, None) is True
    assert origin_allowed("https://anything.example", None) is True


def test_origin_parsing_fills_in_default_ports():
    assert Origin.parse("HTTPS://Example.COM") == Origin("https", "example.com", 443)
    assert Origin.parse("http://[::1]:8000") == Origin("http", "[::1]", 8000)
    assert Origin.parse("https://example.com:99999") is None


def test_a_connect_from_an_unlisted_origin_is_refused_counted_and_not_echoed(settings, connect):
    settings.WEBSOCKETS = {"ALLOWED_ORIGINS": ["https://example.com"]}
    result = connect(origin="https://example.com.evil.net")
    assert (result["statusCode"], result["body"]) == (403, "Forbidden.")
    assert "evil" not in str(result)
    assert not WebSocketSession.objects.exists()
    assert not ApiGateway.objects.exists()  # refused before the gateway registers itself
    assert attempts() == [(SOURCE_IP, 0, 1)]


def test_a_connect_without_an_origin_is_refused_when_origins_are_listed(settings, connect):
    settings.WEBSOCKETS = {"ALLOWED_ORIGINS": ["https://example.com"]}
    assert connect(origin=None)["statusCode"] == 403
    assert not WebSocketSession.objects.exists()


def test_a_connect_from_a_listed_origin_is_accepted(settings, connect):
    settings.WEBSOCKETS = {"ALLOWED_ORIGINS": ["https://.example.com"]}
    assert connect(origin="https://www.example.com")["statusCode"] == 200


def test_without_an_origin_list_a_connect_without_origin_is_accepted(connect):
    assert connect(origin=None)["statusCode"] == 200


# -- the client address ---------------------------------------------------------------------------------------


def test_the_client_ip_comes_from_the_lambda_identity_not_from_x_forwarded_for(connect):
    result = connect(headers={"X-Forwarded-For": "198.51.100.99, 10.0.0.1"})
    assert result["statusCode"] == 200
    assert attempts() == [(SOURCE_IP, 1, 0)]


def test_a_lambda_event_without_a_usable_source_ip_is_refused(websocket_handler):
    event = connect_event()
    event["requestContext"]["identity"] = {"sourceIp": "not-an-ip"}
    assert websocket_handler(event, None)["statusCode"] == 400
    assert not WebSocketSession.objects.exists()


def http_context(source_ip: str = "") -> GatewayContext:
    return GatewayContext(trusted=True, via=HTTP, connection_id="c=", source_ip=source_ip)


def meta(forwarded_for: str | None, remote_addr: str = "10.0.0.2") -> dict:
    request = RequestFactory().post("/", REMOTE_ADDR=remote_addr)
    if forwarded_for is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return request.META


@pytest.mark.parametrize(
    ("hops", "forwarded_for", "expected"),
    [
        (0, "198.51.100.1", "10.0.0.2"),  # no proxies: the peer itself
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client's own first entry is ignored
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.9", "198.51.100.1"),
        (2, "198.51.100.1", None),  # fewer entries than trusted hops: unknown
        (1, None, None),
        (1, "garbage", None),
        (1, " 2001:db8::1 ", "2001:db8::1"),
    ],
)
def test_in_http_mode_the_client_ip_is_the_entry_the_outermost_trusted_proxy_added(
    settings, hops, forwarded_for, expected
):
    settings.WEBSOCKETS = {"TRUSTED_PROXY_HOPS": hops}
    assert client_ip(http_context(), meta(forwarded_for)) == expected


def test_in_http_mode_the_integrations_source_ip_header_wins(settings):
    settings.WEBSOCKETS = {"TRUSTED_PROXY_HOPS": 1}
    assert client_ip(http_context("192.0.2.44"), meta("6.6.6.6")) == "192.0.2.44"


def test_a_lambda_context_never_falls_back_to_headers():
    context = GatewayContext.from_lambda({**request_context("CONNECT", "$connect"), "identity": {}})
    assert context.via == LAMBDA
    assert client_ip(context, meta("198.51.100.1")) is None


# -- rate limits ----------------------------------------------------------------------------------------------


def test_connects_over_the_ip_limit_get_429_and_are_counted(settings, connect):
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IP_ATTEMPTS": 3, "CONNECT_RATE_LIMIT_WINDOW_SECONDS": 60}
    statuses = [connect(f"c{n}=")["statusCode"] for n in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert WebSocketSession.objects.count() == 3
    assert ConnectionRateLimit.objects.totals() == {"successful": 3, "refused": 2}


def test_a_refused_connect_says_when_to_retry_and_nothing_more(settings, connect):
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IP_ATTEMPTS": 1, "CONNECT_RATE_LIMIT_WINDOW_SECONDS": 42}
    connect("c1=")
    result = connect("c2=")
    assert (result["statusCode"], result["body"], result["multiValueHeaders"]["Retry-After"]) == (
        429,
        "Too many requests.",
        ["42"],
    )


def test_refused_attempts_count_towards_the_limit(settings, connect):
    settings.WEBSOCKETS = {
        "CONNECT_RATE_LIMIT_IP_ATTEMPTS": 3,
        "ALLOWED_ORIGINS": ["https://example.com"],
    }
    assert [connect(f"bad{n}=", origin="https://evil.net")["statusCode"] for n in range(3)] == [403] * 3
    assert connect("good=", origin="https://example.com")["statusCode"] == 429


def test_attempts_older_than_the_window_no_longer_count(settings, connect):
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IP_ATTEMPTS": 2, "CONNECT_RATE_LIMIT_WINDOW_SECONDS": 60}
    connect("c1=")
    connect("c2=")
    assert connect("c3=")["statusCode"] == 429
    ConnectionRateLimit.objects.update(last_attempt=timezone.now() - timedelta(seconds=61))
    assert connect("c4=")["statusCode"] == 200


def test_attempts_just_inside_the_window_still_count(settings, connect):
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IP_ATTEMPTS": 1, "CONNECT_RATE_LIMIT_WINDOW_SECONDS": 60}
    connect("c1=")
    ConnectionRateLimit.objects.update(last_attempt=timezone.now() - timedelta(seconds=55))
    assert connect("c2=")["statusCode"] == 429


def test_other_ips_are_not_held_up(settings, connect):
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IP_ATTEMPTS": 1}
    ConnectionRateLimit.objects.create(ip_address="198.51.100.1", bucket_start=timezone.now(), refused=1)
    assert connect()["statusCode"] == 200


def test_the_user_limit_counts_a_users_attempts_from_every_ip(django_user_model, settings):
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IP_ATTEMPTS": None, "CONNECT_RATE_LIMIT_USER_ATTEMPTS": 2}
    ada = django_user_model.objects.create_user("ada")
    for address in ("198.51.100.1", "198.51.100.2"):
        ConnectionRateLimit.objects.create(ip_address=address, user=ada, bucket_start=timezone.now(), successful=1)
    with pytest.raises(RateLimited):
        admit_connection("198.51.100.3", ada)
    assert admit_connection("198.51.100.3", django_user_model.objects.create_user("bob")).successful


def test_anonymous_attempts_are_limited_by_ip_only(settings):
    limits = ConnectionLimits(ip_attempts=None, user_attempts=1, window_seconds=60)
    for _ in range(3):
        assert admit_connection(SOURCE_IP, None, limits).successful


def test_no_limits_still_records_every_attempt():
    limits = ConnectionLimits(ip_attempts=None, user_attempts=None, window_seconds=60)
    for _ in range(3):
        admit_connection(SOURCE_IP, None, limits)
    assert ConnectionRateLimit.objects.totals() == {"successful": 3, "refused": 0}


def test_a_connect_refused_by_the_view_itself_is_recorded_as_unsuccessful(settings, connect):
    settings.WEBSOCKETS = {"URL_PREFIX": "/ticket/"}  # RefusingConnectView wants ?ticket=ok
    assert connect()["statusCode"] == 401
    assert connect("c2=", query={"ticket": "ok"})["statusCode"] == 200
    assert ConnectionRateLimit.objects.totals() == {"successful": 1, "refused": 1}
