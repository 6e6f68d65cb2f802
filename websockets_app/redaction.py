"""Token values out of log lines: one redaction, shared by the view, the log formatters and the local gateway.

A ``$connect`` carries a still-valid token in its query string (``?ws_token=...``). ``WebSocketView`` takes the
token out of the request as soon as it reads it; the formatters here redact any that would still be printed
(a request refused by a middleware before the view ran, an exception message quoting a URL) as defence in depth.

Redacted: the value after every token parameter name (``ws_token`` and each ``WebSocketView.token_query_parameter``
defined so far) written as ``name=value`` (a URL or query string, percent-encoded or not) or as a key of a dict,
QueryDict or JSON object (``'name': 'value'``, ``"name": ["value"]``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

REDACTED = "***"
QUERY_TOKENS_ENVIRON_KEY = "websockets_app.query_tokens"
DEFAULT_TOKEN_PARAMETER = "ws_token"  # noqa: S105 (a parameter name, not a secret)

_token_parameters: set[str] = {DEFAULT_TOKEN_PARAMETER}
_pattern: re.Pattern[str] | None = None

# Where a value ends: a query string's separators, quotes (also JSON-escaped ones), the end of a repr or list.
_VALUE = r"(?:(?!%26|%22|%27)[^&\s\"'\\\]\[>,;#)])+"
# name=value, name%3Dvalue (a URL inside another URL), or a key and its value: 'name': 'value', "name": ["value"],
# \"name\": \"value\" (JSON inside a JSON string).
_SEPARATOR = r"(?:=|%3[Dd]|\\?[\"']\s*:\s*\[?\s*\\?[\"']?)"


def register_token_parameter(name: str) -> None:
    """Redact the values of the query parameter ``name`` from now on (WebSocketView registers its own)."""
    global _pattern
    if name and name not in _token_parameters:
        _token_parameters.add(name)
        _pattern = None


def token_parameters() -> frozenset[str]:
    return frozenset(_token_parameters)


def _compiled() -> re.Pattern[str]:
    global _pattern
    if _pattern is None:
        names = "|".join(re.escape(name) for name in sorted(_token_parameters, key=len, reverse=True))
        _pattern = re.compile(
            rf"(?:(?<![A-Za-z0-9_.~%-])|(?<=%3[Ff])|(?<=%26))(?P<key>{names})(?P<separator>{_SEPARATOR})(?P<value>{_VALUE})"
        )
    return _pattern


def redact(text: str) -> str:
    """``text`` with the value of every token parameter replaced by ``***``."""
    if not any(name in text for name in _token_parameters):
        return text  # the common case: one substring scan per name, no regular expression
    return _compiled().sub(lambda match: f"{match['key']}{match['separator']}{REDACTED}", text)


def redact_query_string(query_string: str, names: Iterable[str] | None = None) -> str:
    """A raw query string with the values of token parameters (``names``, else every registered one) as ``***``.

    Every other parameter is kept byte for byte.
    """
    return _take_from_query_string(query_string, names)[0]


class TakenTokens:
    """Token values taken out of a query string. Not a mapping, and its repr shows no value: whatever prints or
    serialises the WSGI environ it sits in (an error reporter) learns only the parameter names."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, str]) -> None:
        self._values = dict(values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def __repr__(self) -> str:
        return f"<TakenTokens: {', '.join(f'{name}={REDACTED}' for name in sorted(self._values))}>"


def take_query_tokens(environ: dict[str, Any]) -> None:
    """Move the ``ws_token`` values out of a WSGI environ's ``QUERY_STRING`` (which then shows ``***``) into
    ``environ[QUERY_TOKENS_ENVIRON_KEY]``, before any middleware or error reporter sees the request.

    For WSGI entry points that run ahead of Django (the Lambda handler); ``WebSocketView`` reads the token from
    there. A client cannot set that key: its headers become ``HTTP_*`` keys. Only the app's own parameter name is
    taken here, so no other view's query parameter changes under it; a view's own ``token_query_parameter`` is
    taken by the view.
    """
    query_string = environ.get("QUERY_STRING", "")
    if isinstance(query_string, str) and DEFAULT_TOKEN_PARAMETER in query_string:
        redacted, taken = _take_from_query_string(query_string, {DEFAULT_TOKEN_PARAMETER})
        if taken:
            environ["QUERY_STRING"], environ[QUERY_TOKENS_ENVIRON_KEY] = redacted, TakenTokens(taken)


def _take_from_query_string(query_string: str, names: Iterable[str] | None) -> tuple[str, dict[str, str]]:
    secret = set(_token_parameters if names is None else names)
    parts, taken = [], {}
    for part in query_string.split("&"):
        key, equals, value = part.partition("=")
        name = unquote_plus(key)
        if equals and name in secret:
            taken[name] = unquote_plus(value)  # the last one wins, as in request.GET
            part = f"{key}={REDACTED}"
        parts.append(part)
    return "&".join(parts), taken


if TYPE_CHECKING:
    # What the mixin is mixed into (only the type checker sees it).
    _Formatter = logging.Formatter
else:
    _Formatter = object


class RedactingFormatterMixin(_Formatter):
    """A logging formatter whose whole output (message, extra fields, traceback) goes through ``redact``."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingFormatter(RedactingFormatterMixin, logging.Formatter):
    """``logging.Formatter`` with token values redacted (the project's text log format)."""
