"""Text in the WSGI environ: header text re-expressed as WSGI lays it out, raw URLs percent-encoded."""

from __future__ import annotations

import pytest

from websockets_app.aws_lambda.wsgi_text import as_wsgi_text, body_is_decodable, percent_encoded, with_wsgi_header_text


@pytest.mark.parametrize("text", ["plain", "\u00e9", "\u0100\u20ac", "\U0001f600"])
def test_wsgi_text_is_the_latin_1_view_of_the_utf_8_bytes(text):
    assert as_wsgi_text(text).encode("latin-1").decode() == text


def test_a_lone_surrogate_becomes_bytes_that_are_not_utf_8_instead_of_an_error():
    assert as_wsgi_text("\ud800").encode("latin-1") == b"\xed\xa0\x80"


def test_only_header_keys_are_rewritten():
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return []

    environ = {"HTTP_COOKIE": "a=\u20ac", "CONTENT_TYPE": "text/\u20ac", "PATH_INFO": "/\u00e9", "wsgi.x": "\u20ac"}
    with_wsgi_header_text(app)(environ, None)
    assert seen == {
        "HTTP_COOKIE": "a=\u00e2\u0082\u00ac",
        "CONTENT_TYPE": "text/\u00e2\u0082\u00ac",
        "PATH_INFO": "/\u00e9",
        "wsgi.x": "\u20ac",
    }


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("/\u20ac", "/%E2%82%AC"),
        ("/a%20b/\u00e9?x", "/a%20b/%C3%A9?x"),
        ("/plain/%2e%2e", "/plain/%2e%2e"),
        ("q=\ud800", "q=%ED%A0%80"),
        (None, None),
    ],
)
def test_raw_urls_are_percent_encoded_beyond_ascii_only(raw, encoded):
    assert percent_encoded(raw) == encoded


@pytest.mark.parametrize(
    ("event", "decodable"),
    [
        ({}, True),
        ({"body": None}, True),
        ({"body": "text \u20ac"}, True),
        ({"body": "eyJhIjogMX0=", "isBase64Encoded": True}, True),
        ({"body": "eyJhIjogMX0", "isBase64Encoded": True}, False),
        ({"body": "\u00ff\u00ff==", "isBase64Encoded": True}, False),
        ({"body": "\ud800"}, False),
        ({"body": 7}, False),
    ],
)
def test_body_is_decodable(event, decodable):
    assert body_is_decodable(event) is decodable
