"""AWS Lambda entry points.

Django is set up once per container, when this module is imported (Lambda's init phase), so every invocation
only runs the request itself; secrets named in the environment are fetched just before (``infra.secrets``).
``handler`` accepts any event this project receives and dispatches it by shape; the other entry points serve one
event kind each (the SAM template wires one function per kind).

WebSocket events are handled by the app's own Lambda handler (``websockets_app.aws_lambda``); this module adds
the project's secrets and observability around it. Every other invocation is treated like a Django request too
(``websockets_app.aws_lambda.database``): a database connection kept by a warm container is checked before the
work and closed after it if broken or expired, and a database that cannot be reached ends the invocation with the
entry point's failure result within the connect timeout.

A request's path: this module -> WSGI (apig-wsgi) -> Django middleware -> URL resolver -> view -> models.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from infra.secrets import load_secrets

# Before anything reads Django's settings: the secret key and database URL may live in SSM or Secrets Manager.
load_secrets()

from infra import event_kinds, observability  # noqa: E402
from infra.cleanup import run_cleanup  # noqa: E402
from infra.commands import command_line_of, run_command_line  # noqa: E402
from infra.http import build_http_handler  # noqa: E402
from project.wsgi import application  # noqa: E402  (sets DJANGO_SETTINGS_MODULE and runs django.setup())
from websockets_app.aws_lambda import database, make_websocket_handler  # noqa: E402
from websockets_app.messaging import lambda_context  # noqa: E402

observability.share_log_keys_with_django()
observability.escape_unencodable_output()
_websocket = make_websocket_handler(application)
_http = build_http_handler(application, os.environ.get("LAMBDA_HTTP_ADAPTER") or "apig-wsgi")

_log = logging.getLogger(__name__)

# The answer of an entry point whose database cannot be reached (already logged); cleanup and fan-out raise, as for
# any failure, so Lambda counts an error and the schedule or SQS tries again.
_DATABASE_UNAVAILABLE: dict[str, Callable[[database.DatabaseUnavailable], dict[str, Any]]] = {
    "manage": lambda exc: {"exit_code": 1, "output": f"{exc}\n"},
}


def _run(kind: str, context: Any, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """An entry point's work, run as Django runs a request (see ``websockets_app.aws_lambda.database``); a send it
    makes ends before the invocation does (``websockets_app.messaging.lambda_context``)."""
    with lambda_context(context):
        return _run_with_database(kind, work)


def _run_with_database(kind: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if kind == "http":
        # Django's request signals look after the connection, and it is opened only by what needs it: static
        # files, the favicon and pages that read no table are still served while the database is down.
        return work()
    try:
        with database.invocation(through_wsgi=False):
            return work()
    except database.DatabaseUnavailable as exc:
        if kind not in _DATABASE_UNAVAILABLE:
            raise
        return _DATABASE_UNAVAILABLE[kind](exc)


def websocket_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway WebSocket event (CONNECT / MESSAGE / DISCONNECT) -> the project's WebSocketView."""
    request_context = event.get("requestContext") if isinstance(event, dict) else None
    request_context = request_context if isinstance(request_context, dict) else {}
    connection_id = request_context.get("connectionId")
    with observability.invocation("websocket", context, connection_id if isinstance(connection_id, str) else ""):
        started = time.perf_counter()
        result = _websocket(event, context)  # the app's handler: send deadline, database, 500 when it is down
        observability.record_websocket_event(
            str(request_context.get("eventType", "")),
            str(request_context.get("routeKey", "")),
            result["statusCode"],
            round((time.perf_counter() - started) * 1000, 3),
        )
    return result


def http_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway HTTP API (v2), REST API (v1), Function URL or ALB event -> Django."""
    with observability.invocation("http", context):
        return _run("http", context, lambda: _http(event, context))


def cleanup_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge schedule -> the cleanup job it names (``{"cleanup": "sessions"}``), or every job."""
    with observability.invocation("cleanup", context):
        return _run("cleanup", context, lambda: run_cleanup(event if isinstance(event, dict) else {}))


def manage_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``{"manage": "migrate --noinput"}`` -> ``{"exit_code": 0, "output": "..."}`` for allow-listed commands;
    ``{"create_admin": {"username": ..., "email": ...}}`` creates the first admin (infra.first_admin)."""
    with observability.invocation("manage", context):
        return _run("manage", context, lambda: _manage(event))


def _manage(event: Any) -> dict[str, Any]:
    if isinstance(event, dict) and "create_admin" in event:
        from infra.first_admin import create_admin

        return create_admin(event["create_admin"])
    return run_command_line(command_line_of(event) if isinstance(event, dict) else None)


def fanout_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch of fan-out sends -> posts to the Management API, answered with a partial batch response."""
    # Imports the senders: only fan-out containers pay for them.
    from websockets_app.messaging.fanout.consumer import handle_fanout_batch

    with observability.invocation("fanout", context):
        return _run("fanout", context, lambda: handle_fanout_batch(event, context))


_HANDLERS = {
    event_kinds.WEBSOCKET: websocket_handler,
    event_kinds.HTTP: http_handler,
    event_kinds.CLEANUP: cleanup_handler,
    event_kinds.MANAGE: manage_handler,
    event_kinds.FANOUT: fanout_handler,
}


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Any event this project receives, dispatched by its shape."""
    kind = event_kinds.event_kind(event)
    if kind is None:
        keys = sorted(event)[:20] if isinstance(event, dict) else type(event).__name__
        _log.warning("Unrecognised event", extra={"event_keys": keys})
        return {
            "ok": False,
            "error": "Unrecognised event: expected an API Gateway WebSocket, HTTP (v1, v2, ALB, Function URL), "
            'EventBridge schedule, SQS or {"manage": ...} event.',
        }
    return _HANDLERS[kind](event, context)
