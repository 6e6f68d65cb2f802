"""How API Gateway picks a message's route: the route selection expression, read against the message body.

Django-free: the local gateway and the testing toolkit both select routes as API Gateway does with these.
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_ROUTE = "$default"
# The form this app supports: $request.body.<key>[.<key>...] (API Gateway also accepts constants and templates).
_SELECTION_EXPRESSION = re.compile(r"\$request\.body\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)\Z")


def selection_path(expression: str) -> tuple[str, ...]:
    """The body keys an expression reads, e.g. ("action",) for $request.body.action; ValueError for another form."""
    match = _SELECTION_EXPRESSION.match(expression) if isinstance(expression, str) else None
    if match is None:
        raise ValueError(
            f"The route selection expression must look like $request.body.<key>[.<key>...], not {expression!r}."
        )
    return tuple(match.group(1).split("."))


def select_route(data: str | bytes, path: tuple[str, ...], routes: frozenset[str]) -> str:
    """The route key of a message: the value at ``path`` in its JSON body when a route has that key, else $default.

    As API Gateway does: a binary frame, a body that is not JSON (nested too deep to parse included), a missing key
    or a key no route has all go to ``$default``.
    """
    if isinstance(data, bytes) or not routes:
        return DEFAULT_ROUTE
    try:
        value: Any = json.loads(data)
    except (ValueError, RecursionError):
        return DEFAULT_ROUTE
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return DEFAULT_ROUTE
        value = value[key]
    return value if isinstance(value, str) and value in routes else DEFAULT_ROUTE
