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
_DEFAULT_PORTS = {"http": 80, "https": 443}
_clock = time.time  # seconds since the epoch; a module attribute so tests can fix the time


def host_header(url: str) -> str:
    """The Host value botocore signs: lower-case, IPv6 in brackets, the port only when not the default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


class ConnectionSigner:
    """Signs posts to one endpoint, in one region, with one set of credentials and one payload."""

    def __init__(self, endpoint: str, region: str, credentials: Any, payload_hash: str) -> None:
        self.url_prefix = f"{endpoint.rstrip('/')}/@connections/"
        path_prefix = f"{urlsplit(endpoint).path.rstrip('/')}/@connections/"
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
        self._second = second

    def sign(self, connection_id: str) -> tuple[str, dict[str, str]]:
        """The URL of a post to ``connection_id`` and its signature headers."""
        encoded_id = quote(connection_id, safe="")
        if self.needs_normalising or encoded_id in {".", ".."}:
            from botocore.utils import normalize_url_path

            canonical_uri = quote(normalize_url_path(self.path_prefix + encoded_id), safe="/~")
        else:
            canonical_uri = self.path_prefix + quote(encoded_id, safe="/~")
        return self.url_prefix + encoded_id, self.headers(canonical_uri)

    def headers(self, canonical_uri: str) -> dict[str, str]:
        """X-Amz-Date, X-Amz-Security-Token (with a session token) and Authorization for a canonical URI."""
        second = int(_clock())
        if second != self._second:
            self._new_second(second)
        canonical_request = f"POST\n{canonical_uri}{self._canonical_tail}"
        string_to_sign = self._string_head + hashlib.sha256(canonical_request.encode()).hexdigest()
        signature = hmac.digest(self._key, string_to_sign.encode(), "sha256").hex()
        headers = self._shared_headers.copy()
        headers["Authorization"] = self._authorization_head + signature
        return headers
