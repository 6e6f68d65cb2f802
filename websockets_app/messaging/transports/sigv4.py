"""AWS Signature Version 4 for ``POST <endpoint>/@connections/<id>``, the one request shape a send repeats.

botocore's general-purpose ``SigV4Auth`` redoes per request what a send repeats (URL parsing, header objects,
the signing-key derivation), a large share of a post's CPU. Everything here but the path and the time is the
same for every post of a send, so it is computed once: the host, the credential scope, the signing key (per
day), the payload hash. The result is byte-for-byte what ``SigV4Auth`` produces for the same request and
second (``tests/test_sigv4.py`` checks this against botocore). The cost of both: docs/performance.md, measured by
``tests/bench/fanout.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote, urlsplit

SERVICE = "execute-api"
ALGORITHM = "AWS4-HMAC-SHA256"
DEFAULT_PORTS = {"http": 80, "https": 443}
# What ``quote(s, safe="")`` leaves alone; every other ASCII character becomes %XX. str.translate does it in one
# C call, a few times faster than quote() (a Python call per character) for the ids API Gateway gives.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_PERCENT_ENCODE = {code: f"%{code:02X}" for code in range(128) if chr(code) not in _UNRESERVED}
_clock = time.time  # seconds since the epoch; a module attribute so tests can fix the time


def host_header(url: str) -> str:
    """The Host value botocore signs: lower-case, IPv6 in brackets, the port only when not the default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def encode_connection_id(connection_id: str) -> str:
    """The id as a path segment, as boto3 encodes it (``quote(id, safe="")``)."""
    if connection_id.isascii():
        return connection_id.translate(_PERCENT_ENCODE)
    return quote(connection_id, safe="")


class ConnectionSigner:
    """Signs posts to one endpoint, in one region, with one set of credentials and one payload."""

    def __init__(self, endpoint: str, region: str, credentials: Any, payload_hash: str) -> None:
        self.url_prefix = f"{endpoint.rstrip('/')}/@connections/"
        path_prefix = f"{urlsplit(endpoint).path.rstrip('/')}/@connections/"
        self.request_path_prefix = path_prefix  # the path as written on the wire (already encoded)
        # botocore normalises dot segments, then percent-encodes the (already encoded) path again: the
        # signature covers ``%253D`` where the URL says ``%3D``. The prefix's share of that is done once here.
        self.needs_normalising = "/." in path_prefix
        self.path_prefix = path_prefix if self.needs_normalising else quote(path_prefix, safe="/~")
        self.host = host_header(endpoint)
        self.region = region
        self.access_key = credentials.access_key
        self.secret_key = credentials.secret_key
        self.token = credentials.token or ""
        self.payload_hash = payload_hash
        self.signed_headers = "host;x-amz-date;x-amz-security-token" if self.token else "host;x-amz-date"
        self._keys: dict[str, bytes] = {}
        self._second = -1
        # What every post signed in the same second shares: the canonical request's tail (headers, signed
        # headers, payload hash), the string to sign's head, the key, and the Authorization value's head.
        self._canonical_tail = ""
        self._string_head = ""
        self._key = b""
        self._authorization_head = ""
        self._shared_headers: dict[str, str] = {}
        self._request_head = ""  # the request line's end and the headers before Authorization

    def _signing_key(self, date: str) -> bytes:
        key = self._keys.get(date)
        if key is None:
            key = f"AWS4{self.secret_key}".encode()
            for part in (date, self.region, SERVICE, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys[date] = key
        return key

    def _new_second(self, second: int) -> None:
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
        date = amz_date[:8]
        canonical_headers = f"host:{self.host}\nx-amz-date:{amz_date}\n"
        if self.token:
            canonical_headers += f"x-amz-security-token:{self.token}\n"
        scope = f"{date}/{self.region}/{SERVICE}/aws4_request"
        self._canonical_tail = f"\n\n{canonical_headers}\n{self.signed_headers}\n{self.payload_hash}"
        self._string_head = f"{ALGORITHM}\n{amz_date}\n{scope}\n"
        self._key = self._signing_key(date)
        self._authorization_head = (
            f"{ALGORITHM} Credential={self.access_key}/{scope}, SignedHeaders={self.signed_headers}, Signature="
        )
        self._shared_headers = {"X-Amz-Date": amz_date}
        if self.token:
            self._shared_headers["X-Amz-Security-Token"] = self.token
        lines = "".join(f"{name}: {value}\r\n" for name, value in self._shared_headers.items())
        self._request_head = f" HTTP/1.1\r\nHost: {self.host}\r\n{lines}Authorization: {self._authorization_head}"
        self._second = second

    def sign(self, connection_id: str) -> tuple[str, dict[str, str]]:
        """The URL of a post to ``connection_id`` and its signature headers."""
        encoded_id = encode_connection_id(connection_id)
        return self.url_prefix + encoded_id, self.headers(self._canonical_uri(encoded_id))

    def request(self, connection_id: str, body: bytes) -> bytes:
        """The whole signed HTTP/1.1 request posting ``body`` (whose hash this signer was made with) to
        ``connection_id``: the same headers as ``sign()``, plus Host and Content-Length."""
        encoded_id = encode_connection_id(connection_id)
        signature = self._signature(self._canonical_uri(encoded_id))
        return (
            f"POST {self.request_path_prefix}{encoded_id}{self._request_head}{signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    def _canonical_uri(self, encoded_id: str) -> str:
        if self.needs_normalising or encoded_id in {".", ".."}:
            from botocore.utils import normalize_url_path

            return quote(normalize_url_path(self.path_prefix + encoded_id), safe="/~")
        # quote(encoded_id, safe="/~"): the encoded id holds only unreserved characters and %XX escapes.
        return self.path_prefix + encoded_id.replace("%", "%25")

    def headers(self, canonical_uri: str) -> dict[str, str]:
        """X-Amz-Date, X-Amz-Security-Token (with a session token) and Authorization for a canonical URI."""
        signature = self._signature(canonical_uri)
        headers = self._shared_headers.copy()
        headers["Authorization"] = self._authorization_head + signature
        return headers

    def _signature(self, canonical_uri: str) -> str:
        second = int(_clock())
        if second != self._second:
            self._new_second(second)
        canonical_request = f"POST\n{canonical_uri}{self._canonical_tail}"
        string_to_sign = self._string_head + hashlib.sha256(canonical_request.encode()).hexdigest()
        return hmac.digest(self._key, string_to_sign.encode(), "sha256").hex()
