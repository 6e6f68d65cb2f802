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


@pytest.mark.parametrize(
    "connection_id",
    ["L0SM9cOFvHcCIhw=", "a+b/c==", "x y~z%", "conn-1=", ".", "..", "é", "日本", "\x00\x7f", "%41", ""],
)
def test_connection_ids_are_encoded_as_quote_encodes_them(connection_id):
    assert sigv4.encode_connection_id(connection_id) == quote(connection_id, safe="")


def test_every_ascii_character_is_encoded_as_quote_encodes_it():
    every = "".join(chr(code) for code in range(128))
    assert sigv4.encode_connection_id(every) == quote(every, safe="")


@pytest.mark.parametrize(
    ("endpoint", "connection_id", "path"),
    [
        ("https://abc123.execute-api.eu-west-1.amazonaws.com/production", "L0SM9cOFvHcCIhw=", "/production"),
        ("http://127.0.0.1:8001", "a+b/c==", ""),
        ("http://127.0.0.1:8001/stage/./x/../y", ".", "/stage/./x/../y"),
        ("http://[::1]:9000/s", "é", "/s"),
    ],
)
@pytest.mark.parametrize("token", [None, "session-token/with+chars="])
def test_a_whole_request_carries_botocores_signature(monkeypatch, endpoint, connection_id, path, token):
    credentials = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    monkeypatch.setattr(sigv4, "_clock", NOW.timestamp)
    signer = sigv4.ConnectionSigner(endpoint, "eu-west-1", credentials, sigv4.hashlib.sha256(b"hello").hexdigest())

    head, _, body = signer.request(connection_id, b"hello").partition(b"\r\n\r\n")

    request_line, *header_lines = head.decode().split("\r\n")
    url = f"{endpoint}/@connections/{quote(connection_id, safe='')}"
    assert request_line == f"POST {path}/@connections/{quote(connection_id, safe='')} HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in header_lines)
    assert headers == {
        "Host": sigv4.host_header(endpoint),
        **botocore_headers(monkeypatch, url, "eu-west-1", credentials),
        "Content-Length": "5",
    }
    assert body == b"hello"
