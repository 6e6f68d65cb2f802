"""Bans that bite: a user who logs out or is deactivated loses the WebSocket connections they hold.

Connected in ``WebSocketsAppConfig.ready()``. What is covered:

* ``logout()`` (``user_logged_out``): every open connection of the user is closed.
* A user saved with ``is_active=False`` whose row was loaded with ``is_active=True`` (``user.save()``, the admin's
  change form, a form or a serializer that saves the instance): its connections are closed once the transaction
  commits. The old value is the one the row was loaded with (kept at ``post_init``), so a save costs no query.

What is not: ``User.objects.filter(...).update(is_active=False)`` and raw SQL send no signal. Call
``close_connections_of(queryset)`` after such an update. Until then the connections stay open, but every message
from them is refused (the message path reads the user with the session), and so is every new connect.

A close that fails (AWS refuses, the endpoint is unreachable) is logged; it never breaks the logout or the save.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

# Where a user instance keeps the is_active value its row was loaded (or last saved) with.
_LOADED_IS_ACTIVE = "_websockets_loaded_is_active"


def close_connections_quietly(user: Any) -> None:
    """``close_connections_of(user)``; any error is logged, never raised."""
    from websockets_app import messaging

    try:
        messaging.close_connections_of(user)
    except Exception:
        logger.exception("Closing the connections of user %s failed", getattr(user, "pk", user))


def on_user_logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    if user is not None and getattr(user, "pk", None) is not None:
        transaction.on_commit(lambda: close_connections_quietly(user))


def remember_loaded_is_active(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Read from __dict__: a deferred is_active (``.only(...)``) must not be loaded, and a user model whose
    # is_active is a plain class attribute has nothing to watch.
    if "is_active" in instance.__dict__:
        instance.__dict__[_LOADED_IS_ACTIVE] = instance.__dict__["is_active"]


def close_connections_when_deactivated(
    sender: Any, instance: Any, created: bool = False, update_fields: Any = None, raw: bool = False, **kwargs: Any
) -> None:
    if raw or "is_active" not in instance.__dict__:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return  # is_active was not written: the row keeps the value it had
    was_active = instance.__dict__.get(_LOADED_IS_ACTIVE)
    is_active = instance.__dict__["is_active"]
    instance.__dict__[_LOADED_IS_ACTIVE] = is_active
    if was_active and not is_active and not created:
        pk = instance.pk
        transaction.on_commit(lambda: close_connections_quietly(pk))


def connect_receivers() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.signals import user_logged_out
    from django.db.models.signals import post_init, post_save

    user_model = get_user_model()
    user_logged_out.connect(on_user_logged_out, dispatch_uid="websockets_app.close_on_logout")
    post_init.connect(remember_loaded_is_active, sender=user_model, dispatch_uid="websockets_app.loaded_is_active")
    post_save.connect(
        close_connections_when_deactivated, sender=user_model, dispatch_uid="websockets_app.close_on_deactivation"
    )
