"""Route selection as API Gateway does it (development seam, consolidated with the event builder at merge)."""

from __future__ import annotations

import re

_SELECTION_EXPRESSION = re.compile(r"\$request\.body\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)\Z")


def selection_path(expression: str) -> tuple[str, ...]:
    match = _SELECTION_EXPRESSION.match(expression)
    if match is None:
        raise ValueError(
            f"The route selection expression must look like $request.body.<key>[.<key>...], not {expression!r}."
        )
    return tuple(match.group(1).split("."))
