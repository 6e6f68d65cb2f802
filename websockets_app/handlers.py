"""``@handler``: marks a method of a WebSocketView as one a message may select.

Handlers are opt-in: a public method of a view or of one of its mixins (Django's ``PermissionRequiredMixin`` brings
``has_permission``, ``handle_no_permission``, ...) is not reachable by clients unless it is decorated, or named in
``ALLOWED_HANDLERS`` / ``ADDITIONAL_ALLOWED_HANDLERS``. ``default`` is always the fallback::

    class ChatView(WebSocketView):
        @handler
        def send(self, request, *args, **kwargs):  # {"action": "send", ...}
            ...

It composes with ``@handler_permissions`` in either order (both only mark the function).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])

_ATTRIBUTE = "websocket_handler"


def handler(method: Handler) -> Handler:
    """Mark ``method`` as a handler a message may select (by its ``action``, ``handler`` or route key)."""
    setattr(method, _ATTRIBUTE, True)
    return method


def is_handler(method: Any) -> bool:
    """Whether ``method`` (a view's attribute) was marked with ``@handler``."""
    return getattr(method, _ATTRIBUTE, False) is True
