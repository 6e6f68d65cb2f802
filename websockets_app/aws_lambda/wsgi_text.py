"""Text in the WSGI environ the way PEP 3333 lays it out, for requests that arrive as Lambda events.

A WSGI server hands Django each header as its raw bytes decoded as latin-1, and Django re-encodes them as
latin-1 to read them as UTF-8. apig-wsgi copies the event's headers as they are: already-decoded text. A
character beyond latin-1 (``Cookie: name=Ā``, which any browser can send) then makes Django's own decoding
raise, before any view or error page runs. Turning the text back into the bytes the client sent, as a WSGI
server would, lets Django decode it exactly as it does behind any other server.
"""

from __future__ import annotations

from base64 import b64decode
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Environ keys that carry header text (CONTENT_TYPE and CONTENT_LENGTH are headers without the HTTP_ prefix).
HEADER_KEYS_WITHOUT_PREFIX = ("CONTENT_TYPE", "CONTENT_LENGTH")
_ASCII = "".join(map(chr, range(128)))


def as_wsgi_text(value: str) -> str:
    """The latin-1 view of the UTF-8 bytes of ``value``; ASCII text is returned as it is."""
    if value.isascii():
        return value
    # surrogatepass: a lone surrogate (JSON can carry one) becomes bytes that are not UTF-8, which Django
    # decodes with replacement characters instead of failing.
    return value.encode("utf-8", "surrogatepass").decode("latin-1")


def with_wsgi_header_text(application: WSGIApp, unprefixed: Iterable[str] = HEADER_KEYS_WITHOUT_PREFIX) -> WSGIApp:
    """Wrap ``application`` so every header in its environ is WSGI text (see the module docstring).

    ``unprefixed``: the headers without the HTTP_ prefix to convert too (none where the adapter already did).
    """
    unprefixed = frozenset(unprefixed)

    def wsgi_text_application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for key, value in environ.items():
            if isinstance(value, str) and (key.startswith("HTTP_") or key in unprefixed):
                environ[key] = as_wsgi_text(value)
        return application(environ, start_response)

    return wsgi_text_application


def percent_encoded(url_part: Any) -> Any:
    """A raw path or query string with every non-ASCII character percent-encoded as UTF-8, as on the wire.

    Django reads PATH_INFO and QUERY_STRING as latin-1 WSGI text; a character beyond it (``/€``, ``?q=€``) would
    make Django fail, for a path before any middleware runs. Existing %-escapes and ASCII are left as they are.
    """
    if not isinstance(url_part, str) or url_part.isascii():
        return url_part
    return quote(url_part, safe=_ASCII, errors="surrogatepass")


def body_is_decodable(event: dict[str, Any]) -> bool:
    """Whether apig-wsgi can turn the event's body into bytes: real base64 when flagged so, else encodable text."""
    body = event.get("body")
    if not isinstance(body, str):
        return body is None
    try:
        b64decode(body, validate=True) if event.get("isBase64Encoded") is True else body.encode()
    except (ValueError, UnicodeEncodeError):  # binascii.Error, non-ASCII base64, lone surrogates
        return False
    return True
