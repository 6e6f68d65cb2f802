"""The HTTP entry point: API Gateway (v1, v2), Function URL and ALB events into Django, through either adapter."""

from __future__ import annotations

import base64
import importlib
import json
from collections.abc import Callable

import pytest
from django.core.exceptions import ImproperlyConfigured

from infra import handlers
from infra.http import ADAPTERS, build_http_handler
from project.wsgi import application

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]


def http_api_v2_event(path: str, *, method: str = "GET", query: str = "", cookies: list[str] | None = None) -> dict:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "cookies": cookies or [],
        "headers": {
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
            "user-agent": "pytest",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1_700_000_000_000,
        },
        "isBase64Encoded": False,
    }


def function_url_event(path: str) -> dict:
    """A Lambda Function URL event: the HTTP API v2 shape with a lambda-url domain."""
    event = http_api_v2_event(path)
    domain = "abcdefghij.lambda-url.eu-west-1.on.aws"
    event["headers"]["host"] = domain
    event["requestContext"].update({"apiId": "abcdefghij", "domainName": domain, "domainPrefix": "abcdefghij"})
    return event


def rest_v1_event(path: str) -> dict:
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Host": "www.example.com", "X-Forwarded-Proto": "https"},
        "multiValueHeaders": {"Host": ["www.example.com"], "X-Forwarded-Proto": ["https"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "requestContext": {"identity": {"sourceIp": "203.0.113.7"}, "stage": "prod", "requestId": "req-2"},
        "body": None,
        "isBase64Encoded": False,
    }


def alb_event(path: str) -> dict:
    return {
        "requestContext": {
            "elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/site/1"}
        },
        "httpMethod": "GET",
        "path": path,
        "queryStringParameters": {"a": "1"},
        "headers": {"host": "www.example.com", "x-forwarded-proto": "https"},
        "body": "",
        "isBase64Encoded": False,
    }


@pytest.fixture(autouse=True)
def _hosts(settings):
    settings.ALLOWED_HOSTS = [
        "abc123.execute-api.eu-west-1.amazonaws.com",
        "abcdefghij.lambda-url.eu-west-1.on.aws",
        "www.example.com",
    ]


@pytest.fixture(params=ADAPTERS)
def http_handler(request) -> Callable[[dict, object], dict]:
    return build_http_handler(application, request.param)


@pytest.fixture
def test_urls(settings):
    settings.ROOT_URLCONF = "tests.ws_urls"


def headers_of(response: dict) -> dict[str, str]:
    """Response headers, lower-cased, from whichever form the adapter used."""
    headers = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = values[-1]
    return headers


def cookies_of(response: dict) -> list[str]:
    cookies = [cookie.strip() for cookie in response.get("cookies") or []]
    for name, values in (response.get("multiValueHeaders") or {}).items():
        if name.lower() == "set-cookie":
            cookies += [value.strip() for value in values]
    for name, value in (response.get("headers") or {}).items():
        if name.lower() == "set-cookie":
            cookies.append(value.strip())
    return cookies


def body_of(response: dict) -> bytes:
    body = response.get("body") or ""
    return base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()


def test_http_api_v2_get_renders_the_home_page(http_handler):
    response = http_handler(http_api_v2_event("/"), None)
    assert response["statusCode"] == 200
    assert headers_of(response)["content-type"].startswith("text/html")
    assert b"Django WebSockets on AWS Lambda" in body_of(response)


def test_http_api_v2_admin_redirects_to_login_with_the_query_string(http_handler):
    response = http_handler(http_api_v2_event("/admin/", query="a=1"), None)
    assert response["statusCode"] == 302
    assert headers_of(response)["location"] == "/admin/login/?next=/admin/%3Fa%3D1"


@pytest.mark.parametrize("make_event", [rest_v1_event, alb_event, function_url_event])
def test_other_event_shapes_are_served(http_handler, make_event):
    response = http_handler(make_event("/"), None)
    assert response["statusCode"] == 200
    assert b"Django WebSockets on AWS Lambda" in body_of(response)


def test_unknown_host_is_a_400_that_does_not_name_the_allowed_hosts(http_handler):
    event = http_api_v2_event("/")
    event["headers"]["host"] = "evil.example.net"
    response = http_handler(event, None)
    assert response["statusCode"] == 400
    assert b"abc123" not in body_of(response)


@pytest.mark.usefixtures("test_urls")
def test_v2_query_strings_cookies_and_body_reach_the_view_and_cookies_come_back(http_handler):
    event = http_api_v2_event("/echo/", method="POST", query="a=1&a=2&b=x%20y", cookies=["c1=one", "c2=two"])
    event["body"] = "payload"
    response = http_handler(event, None)
    assert json.loads(body_of(response)) == {
        "method": "POST",
        "query": {"a": ["1", "2"], "b": ["x y"]},
        "cookies": {"c1": "one", "c2": "two"},
        "body": "payload",
    }
    assert sorted(cookie.split(";")[0] for cookie in cookies_of(response)) == ["first=1", "second=2"]


@pytest.mark.usefixtures("test_urls")
def test_v1_multi_value_query_strings_and_cookies_reach_the_view(http_handler):
    event = rest_v1_event("/echo/")
    event["multiValueQueryStringParameters"] = {"a": ["1", "2"]}
    event["queryStringParameters"] = {"a": "2"}
    event["multiValueHeaders"]["Cookie"] = ["c1=one; c2=two"]
    event["headers"]["Cookie"] = "c1=one; c2=two"
    response = http_handler(event, None)
    payload = json.loads(body_of(response))
    assert payload["query"] == {"a": ["1", "2"]}
    assert payload["cookies"] == {"c1": "one", "c2": "two"}
    assert sorted(cookie.split(";")[0] for cookie in cookies_of(response)) == ["first=1", "second=2"]


@pytest.mark.usefixtures("test_urls")
@pytest.mark.parametrize("make_event", [http_api_v2_event, rest_v1_event, alb_event])
def test_binary_responses_arrive_intact(http_handler, make_event):
    response = http_handler(make_event("/binary/"), None)
    assert response["isBase64Encoded"] is True
    assert body_of(response) == bytes(range(256))


@pytest.mark.usefixtures("test_urls")
def test_json_responses_are_text(http_handler):
    response = http_handler(http_api_v2_event("/json/"), None)
    assert response["isBase64Encoded"] is False
    assert json.loads(response["body"]) == {"ok": True}


def test_login_sets_a_secure_session_cookie_over_https(http_handler, admin_user, settings):
    settings.SESSION_COOKIE_SECURE = True
    get = http_handler(http_api_v2_event("/admin/login/"), None)
    csrf_cookie = next(c for c in cookies_of(get) if c.startswith("csrftoken="))
    token = csrf_cookie.split(";")[0].split("=", 1)[1]
    event = http_api_v2_event("/admin/login/", method="POST", cookies=[f"csrftoken={token}"])
    event["headers"].update(
        {
            "content-type": "application/x-www-form-urlencoded",
            "referer": "https://abc123.execute-api.eu-west-1.amazonaws.com/admin/login/",
        }
    )
    event["body"] = f"csrfmiddlewaretoken={token}&username=admin&password=password&next=/admin/"
    response = http_handler(event, None)
    assert response["statusCode"] == 302, response.get("body", "")[:500]
    session_cookie = next(c for c in cookies_of(response) if c.startswith("sessionid="))
    assert "Secure" in session_cookie
    assert "HttpOnly" in session_cookie


def test_an_unknown_adapter_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="LAMBDA_HTTP_ADAPTER"):
        build_http_handler(application, "mangum")


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_the_http_entry_point_uses_the_adapter_the_environment_names(monkeypatch, adapter):
    import serverless_wsgi

    calls = []
    real = serverless_wsgi.handle_request
    monkeypatch.setattr(serverless_wsgi, "handle_request", lambda *args: calls.append(args) or real(*args))
    monkeypatch.setenv("LAMBDA_HTTP_ADAPTER", adapter)
    try:
        module = importlib.reload(handlers)
        assert module.http_handler(http_api_v2_event("/"), None)["statusCode"] == 200
        assert len(calls) == (1 if adapter == "serverless-wsgi" else 0)
    finally:
        monkeypatch.delenv("LAMBDA_HTTP_ADAPTER")
        importlib.reload(handlers)


# -- text beyond ASCII and bodies that are not what they claim ----------------------------------------------------


@pytest.mark.usefixtures("test_urls")
def test_non_ascii_cookies_and_query_strings_reach_the_view_as_sent(http_handler):
    event = http_api_v2_event("/echo/", query="q=\u20ac&r=%E2%82%AC", cookies=["theme=\u0100\u20ac"])
    response = http_handler(event, None)
    assert response["statusCode"] == 200
    assert json.loads(body_of(response))["query"] == {"q": ["\u20ac"], "r": ["\u20ac"]}
    assert json.loads(body_of(response))["cookies"] == {"theme": "\u0100\u20ac"}


@pytest.mark.parametrize("path", ["/\u20ac", "/\u0130\u0131", "/ws/\u20ac", "/%E2%82%AC"])
def test_a_path_beyond_latin_1_is_a_404_not_a_crash(http_handler, path):
    assert http_handler(http_api_v2_event(path), None)["statusCode"] == 404


def test_a_query_string_with_a_lone_surrogate_is_not_a_server_error(http_handler):
    assert http_handler(http_api_v2_event("/admin/", query="\ud800"), None)["statusCode"] < 500


@pytest.mark.parametrize(
    ("body", "is_base64"), [("%%%", True), ("YQ", True), ("\u00ff\u00ff==", True), ("\ud800", False)]
)
def test_a_body_that_cannot_be_decoded_is_a_400(http_handler, body, is_base64):
    event = http_api_v2_event("/", method="POST")
    event.update(body=body, isBase64Encoded=is_base64)
    response = http_handler(event, None)
    assert (response["statusCode"], response["body"]) == (400, "Bad request.")
