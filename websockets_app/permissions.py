"""Django permission checks for WebSocket views and for single handlers.

A view lists ``permissions_required`` (the user needs any one of them) and ``all_permissions_required`` (the user
needs every one); both are checked on ``$connect`` and on every message. One handler can ask for more::

    class ChatView(WebSocketView):
        @handler_permissions(all_of=["chat.delete_message"])
        def delete(self, request, *args, **kwargs):
            ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied

Handler = TypeVar("Handler", bound=Callable[..., Any])

_ATTRIBUTE = "websocket_permissions"


@dataclass(frozen=True)
class PermissionRule:
    any_of: tuple[str, ...] = ()
    all_of: tuple[str, ...] = ()

    def check(self, user: Any) -> None:
        """Raise PermissionDenied unless ``user`` has one of ``any_of`` (if any) and all of ``all_of``."""
        if self.any_of and not any(user.has_perm(permission) for permission in self.any_of):
            raise PermissionDenied("missing permission")
        if self.all_of and not user.has_perms(self.all_of):
            raise PermissionDenied("missing permission")


def handler_permissions(*, any_of: Iterable[str] = (), all_of: Iterable[str] = ()) -> Callable[[Handler], Handler]:
    """Require permissions for one handler, on top of the view's own."""
    rule = PermissionRule(any_of=tuple(any_of), all_of=tuple(all_of))
    if not (rule.any_of or rule.all_of):
        raise ValueError("handler_permissions() needs any_of or all_of.")

    def decorate(handler: Handler) -> Handler:
        setattr(handler, _ATTRIBUTE, rule)
        return handler

    return decorate


def rule_of(handler: Callable[..., Any]) -> PermissionRule | None:
    """The rule ``handler_permissions`` attached to a handler, if any."""
    return getattr(handler, _ATTRIBUTE, None)
