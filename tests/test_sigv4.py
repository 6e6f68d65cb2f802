import datetime
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from websockets_app.messaging.transports import sigv4

NOW = datetime.datetime(2024, 2, 29, 23, 59, 58, tzinfo=datetime.UTC)


def botocore_headers(monkeypatch, url, region, credentials):
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=url, data=b"hello")
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    return {name: value for name, value in request.headers.items()}


@pytest.mark.parametrize(
    ("endpoint", "connection_id"),
    [
        ("https://abc123.execute-api.eu-west-1.amazonaws.com/production", "L0SM9cOFvHcCIhw="),
        ("https://abc123.execute-api.eu-west-1.amazonaws.com/production/", "a+b/c=="),
        ("https://ABC.execute-api.us-east-1.amazonaws.com:443/dev", "x y~z%"),
        ("http://127.0.0.1:8001", "conn-1="),
        ("http://127.0.0.1:8001/stage/./x/../y", "."),
        ("http://[::1]:9000/s", "é"),
    ],
)
@pytest.mark.parametrize("token", [None, "session-token/with+chars="])
def test_signatures_are_exactly_botocores(monkeypatch, endpoint, connection_id, token):
    credentials = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    monkeypatch.setattr(sigv4, "_clock", NOW.timestamp)
    signer = sigv4.ConnectionSigner(endpoint, "eu-west-1", credentials, sigv4.hashlib.sha256(b"hello").hexdigest())

    url, headers = signer.sign(connection_id)

    assert url == f"{endpoint.rstrip('/')}/@connections/{quote(connection_id, safe='')}"
    assert headers == botocore_headers(monkeypatch, url, "eu-west-1", credentials)


def test_the_signing_key_is_derived_once_per_day(monkeypatch):
    credentials = ReadOnlyCredentials("AKID", "secret", None)
    signer = sigv4.ConnectionSigner("https://h.test/s", "eu-west-1", credentials, "0" * 64)
    monkeypatch.setattr(sigv4, "_clock", NOW.timestamp)
    first = signer.sign("a")[1]
    signer.sign("b")
    monkeypatch.setattr(sigv4, "_clock", lambda: NOW.timestamp() + 3)  # past midnight: a new day, a new key
    later = signer.sign("a")[1]
    assert sorted(signer._keys) == ["20240229", "20240301"]
    assert first["X-Amz-Date"] == "20240229T235958Z"
    assert later["X-Amz-Date"] == "20240301T000001Z"
    assert first["Authorization"] != later["Authorization"]


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Example.COM/x", "example.com"),
        ("https://example.com:443/x", "example.com"),
        ("http://example.com:80", "example.com"),
        ("http://127.0.0.1:8001/x", "127.0.0.1:8001"),
        ("https://[::1]:8443/", "[::1]:8443"),
    ],
)
def test_host_header_matches_what_clients_send(url, host):
    assert sigv4.host_header(url) == host


def test_the_signer_alone_builds_connection_urls():
    assert not hasattr(sigv4, "connection_url")
