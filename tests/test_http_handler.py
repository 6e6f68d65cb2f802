"""The HTTP entry point: API Gateway and ALB events through apig-wsgi into Django."""

from __future__ import annotations

import pytest

from infra.handlers import http_handler

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
    settings.ALLOWED_HOSTS = ["abc123.execute-api.eu-west-1.amazonaws.com", "www.example.com"]


def test_http_api_v2_get_renders_the_home_page():
    response = http_handler(http_api_v2_event("/"), None)
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"].startswith("text/html")
    assert "Django WebSockets on AWS Lambda" in response["body"]


def test_http_api_v2_admin_redirects_to_login_with_the_query_string():
    response = http_handler(http_api_v2_event("/admin/", query="a=1"), None)
    assert response["statusCode"] == 302
    assert response["headers"]["location"] == "/admin/login/?next=/admin/%3Fa%3D1"


def test_rest_v1_event_is_served():
    response = http_handler(rest_v1_event("/"), None)
    assert response["statusCode"] == 200


def test_alb_event_is_served():
    response = http_handler(alb_event("/"), None)
    assert response["statusCode"] == 200
    assert "Django WebSockets on AWS Lambda" in response["body"]


def test_unknown_host_is_a_400_that_does_not_name_the_allowed_hosts(settings):
    event = http_api_v2_event("/")
    event["headers"]["host"] = "evil.example.net"
    response = http_handler(event, None)
    assert response["statusCode"] == 400
    assert "abc123" not in response["body"]


def test_login_sets_a_secure_session_cookie_over_https(admin_user, settings):
    settings.SESSION_COOKIE_SECURE = True
    get = http_handler(http_api_v2_event("/admin/login/"), None)
    csrf_cookie = next(c.strip() for c in get["cookies"] if c.strip().startswith("csrftoken="))
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
    session_cookie = next(c.strip() for c in response["cookies"] if c.strip().startswith("sessionid="))
    assert "Secure" in session_cookie
    assert "HttpOnly" in session_cookie
