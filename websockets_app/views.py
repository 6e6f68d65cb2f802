"""``WebSocketView``: API Gateway WebSocket events handled by an ordinary Django class-based view.

Every event arrives as ``POST <URL_PREFIX><route>`` (see ``websockets_app.urls``): ``$connect`` -> ``connect``,
``$disconnect`` -> ``disconnect``, ``$default`` -> ``default``, and a custom route key as it is. What the event is
(CONNECT, MESSAGE or DISCONNECT) comes from the trusted gateway context, never from the URL or the body.

Subclass it and write one method per handler, marked ``@handler`` (only marked or listed methods, and ``default``,
can be selected by a message)::

    class ChatView(WebSocketView):
        def default(self, request, *args, **kwargs):
            ...

        @handler
        def send(self, request, *args, **kwargs):  # {"action": "send", ...}
            self.websocket_session.channel_name
            return {"ok": True}  # a dict or list becomes a JSON response
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeGuard, cast

from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import (
    BadRequest,
    ImproperlyConfigured,
    PermissionDenied,
    SuspiciousOperation,
    ValidationError,
)
from django.core.signals import got_request_exception
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.functional import SimpleLazyObject, empty
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from websockets_app import message_queries
from websockets_app.conf import ws_settings
from websockets_app.gateway import HTTP, NONE, GatewayContext, client_ip
from websockets_app.handlers import handler as handler  # re-exported: views import it from here
from websockets_app.handlers import is_handler
from websockets_app.limits import MAX_MESSAGE_BYTES, describe_bytes
from websockets_app.models import WebSocketSession
from websockets_app.origins import origin_allowed
from websockets_app.permissions import PermissionRule, rule_of
from websockets_app.rate_limits import (
    ConnectionLimits,
    RateLimited,
    admit_connection,
    mark_refused,
    record_refused_connection,
)
from websockets_app.redaction import (
    QUERY_TOKENS_ENVIRON_KEY,
    REDACTED,
    TakenTokens,
    redact_query_string,
    register_token_parameter,
)
from websockets_app.tokens import consume_token, issue_token
from websockets_app.validators import CHANNEL_NAME_COLUMN_LENGTH, validate_channel_name

if TYPE_CHECKING:
    from django.http.request import _ImmutableQueryDict

logger = logging.getLogger(__name__)

_HANDLER_NAME_MAX_LENGTH = 64


class _FromSettings(enum.Enum):
    FROM_SETTINGS = "from settings"


# A view's message rate limit attributes take the WEBSOCKETS settings unless the view sets its own.
FROM_SETTINGS = _FromSettings.FROM_SETTINGS


@method_decorator(csrf_exempt, name="dispatch")
class WebSocketView(View):
    """Base view for the routes of an API Gateway WebSocket API."""

    http_method_names = ["post"]

    # Body keys that pick the handler of a message: "handler" first, then "action" (the route selection key).
    route_selection_key: ClassVar[str] = "action"
    handler_selection_key: ClassVar[str] = "handler"

    # Which methods a message may select, besides those marked @handler (websockets_app.handlers) and ``default``.
    # None: only those. A name listed here is a handler whether or not it is decorated.
    ALLOWED_HANDLERS: ClassVar[Iterable[str] | None] = None
    ADDITIONAL_ALLOWED_HANDLERS: ClassVar[Iterable[str]] = ()

    # Django permissions, checked on connect and on every message: any one of / all of. A single handler can
    # require more with @handler_permissions (websockets_app.permissions).
    permissions_required: ClassVar[Iterable[str]] = ()
    all_permissions_required: ClassVar[Iterable[str]] = ()

    # $connect must bring a fresh token from WebSocketTokenView (?ws_token=...); the token decides who the user is.
    # Switch off only for anonymous, public endpoints: rate limits and the Origin check still apply.
    USE_WS_TOKEN: ClassVar[bool] = True
    token_query_parameter: ClassVar[str] = "ws_token"  # noqa: S105 (a parameter name, not a secret)

    # HTTP integrations only: headers a $connect must carry (API Gateway forwards the client's handshake headers).
    required_headers: ClassVar[Iterable[str]] = ("Sec-WebSocket-Key", "Sec-WebSocket-Version")
    additional_required_headers: ClassVar[Iterable[str]] = ()

    # Messages one connection may send per window before its messages get a 429 (with Retry-After) that runs no
    # handler and writes nothing; None lifts the limit. FROM_SETTINGS takes WEBSOCKETS["MESSAGE_RATE_LIMIT"] and
    # WEBSOCKETS["MESSAGE_RATE_LIMIT_WINDOW_SECONDS"].
    message_rate_limit: ClassVar[int | _FromSettings | None] = FROM_SETTINGS
    message_rate_limit_window_seconds: ClassVar[int | _FromSettings] = FROM_SETTINGS

    # -- view attributes of django-aws-api-gateway-websockets, with the original's meaning -------------------------
    # Pin the view to one API: an event from any other API id is a 403 that writes nothing. None: every API this
    # project trusts reaches the view.
    aws_api_gateway_id: ClassVar[str | None] = None
    # This view's connection rate limit: attempts per client IP and per user (0: the WEBSOCKETS settings) within a
    # window in minutes (0: the settings). False lifts both limits; attempts are still recorded.
    RATE_LIMIT_ENABLED: ClassVar[bool] = True
    RATE_LIMIT_MAX_ATTEMPTS: ClassVar[int] = 0
    RATE_LIMIT_WINDOW_MINUTES: ClassVar[int] = 0
    # The channel names this view accepts (?channel= on connect, change_channel), in place of
    # WEBSOCKETS["CHANNEL_NAME_PATTERN"] (which must match the whole name) and WEBSOCKETS["CHANNEL_NAME_MAX_LENGTH"].
    # None: the settings.
    CHANNEL_NAME_PATTERN: ClassVar[str | re.Pattern[str] | None] = None
    MAX_CHANNEL_NAME_LENGTH: ClassVar[int | None] = None

    # Channels that survive reconnects (docs/replay.md). True: {"action": "resume", "since": n} may be selected,
    # and posts this connection's channel's messages after n (websockets_app.messaging.replay).
    replay_channels: ClassVar[bool] = False
    # True: presence join/leave notices go to the channel on a user's first/last connection to it, and
    # {"action": "presence"} may be selected, answered with who is there (websockets_app.presence).
    presence_notices: ClassVar[bool] = False

    # as_view(debug=True) records why a request was refused in self.debug_log.
    debug: bool = False

    # Computed per subclass in __init_subclass__.
    _allowed_handlers: ClassVar[frozenset[str]] = frozenset({"default"})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._allowed_handlers = _allowed_handlers(cls)
        register_token_parameter(cls.token_query_parameter)  # the log formatters redact its values too
        _check_message_rate_limit(cls)
        _check_legacy_attributes(cls)

    # -- request lifecycle ---------------------------------------------------------------------------------------

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)
        self.debug_log: list[str] = []
        self.body: dict[str, Any] = {}
        self.websocket_session: WebSocketSession | None = None
        self.gateway_context = GatewayContext(trusted=False, via=NONE)
        self.handler_name = ""
        self._presented_token: str | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # First of all: whatever logs or reports this request from here on (refusals, errors, Django's own
        # request log) sees the token redacted, while it may still be valid.
        self._presented_token = self._take_token(request)
        self.gateway_context = GatewayContext.from_request(request)
        if not self.gateway_context.trusted:
            return self._refuse(403, "not from API Gateway (no trusted request context or integration secret)")
        if self.aws_api_gateway_id is not None and self.gateway_context.api_id != self.aws_api_gateway_id:
            return self._refuse(403, "event from an API this view is not pinned to (aws_api_gateway_id)")
        if request.method != "POST":
            return self.http_method_not_allowed(request, *args, **kwargs)
        try:
            if self.gateway_context.event_type == "CONNECT":
                response = self._handle_connect(request, *args, **kwargs)
            elif self.gateway_context.event_type == "DISCONNECT":
                response = self.disconnect(request, *args, **kwargs)
            else:
                response = self._handle_message(request, *args, **kwargs)
            return _as_response(response)
        except PermissionDenied as exc:
            return self._refuse(403, str(exc) or "permission denied")
        except (BadRequest, ValidationError, SuspiciousOperation) as exc:
            return self._refuse(400, _reason(exc))
        except RateLimited as exc:
            refusal = self._refuse(429, str(exc))
            refusal["Retry-After"] = str(exc.retry_after)
            return refusal
        except Exception:
            return self._fail(request)

    def _handle_connect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        address = client_ip(self.gateway_context, request.META)
        if address is None:
            raise BadRequest("no usable client address")
        try:
            if self.gateway_context.via == HTTP:
                self._check_required_headers(request)
            if not origin_allowed(request.headers.get("Origin")):
                raise PermissionDenied("origin not allowed")
            if request.GET.get("channel"):
                # Before the token is spent: a client with a typo in the channel keeps its token.
                self._validate_channel(request.GET["channel"])
            if self.USE_WS_TOKEN:
                request.user = self._user_from_token(request)
        except (BadRequest, PermissionDenied, ValidationError):
            record_refused_connection(address)
            raise
        attempt = admit_connection(address, request.user, self._connection_limits())
        try:
            self.check_permissions(request.user)
            response = self.connect(request, *args, **kwargs)
        except Exception:
            mark_refused(attempt)
            raise
        if not _accepted(response):
            mark_refused(attempt)
        return response

    def _user_from_token(self, request: HttpRequest) -> Any:
        """Spend the connect's token and return its user; PermissionDenied for any token that is not good."""
        token = consume_token(self._presented_token)
        if token is None:
            raise PermissionDenied("missing, unknown, used or expired token")
        session_key = request.session.session_key if hasattr(request, "session") else None
        if session_key is None and ws_settings.TOKEN_REQUIRES_SESSION:
            raise PermissionDenied("token presented without the session cookie it was issued to")
        if session_key is not None and session_key != token.session_key:
            raise PermissionDenied("token presented with another session")
        if not token.user.is_active:
            raise PermissionDenied("token of an inactive user")
        return token.user

    def _handle_message(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        session = message_queries.connected_session(self.gateway_context.connection_id)
        if session is None:
            raise PermissionDenied("unknown or closed connection")
        if session.user is not None and not session.user.is_active:
            # Deactivated since the connect: the user came with the session row, so this costs no query.
            raise PermissionDenied("message from an inactive user")
        self.websocket_session = session
        request.user = session.user or AnonymousUser()
        self.body = self.parse_body(request)
        self.handler_name = self.select_handler(kwargs.get("route", ""))
        method = getattr(self, self.handler_name)
        self.check_permissions(request.user)
        handler_rule = rule_of(method)
        if handler_rule is not None:
            handler_rule.check(request.user)
        # The message is counted, and the rate limit checked, by one conditional UPDATE before the handler runs: a
        # message over the limit has no side effect (a chat send broadcasts), and concurrent messages on one
        # connection cannot overshoot the limit. A message its handler refuses is taken back out (a third query,
        # on that path only), so that a refused message leaves the row as it was.
        limit = self._message_rate_limit()
        if limit is None:
            counted = message_queries.count_message(session)
        elif (counted_in_window := message_queries.count_message(session, limit)) is not None:
            counted = counted_in_window
        else:
            raise RateLimited(message_queries.retry_after(session, limit), "message")
        try:
            response = method(request, *args, **kwargs)
        except Exception:
            try:
                message_queries.uncount_message(session, counted)
            except DatabaseError:
                logger.warning("A failed message could not be uncounted", exc_info=True)
            raise
        if not _accepted(response):
            message_queries.uncount_message(session, counted)
        return response

    def _message_rate_limit(self) -> message_queries.MessageRateLimit | None:
        cls = type(self)
        messages = cls.message_rate_limit
        if messages is FROM_SETTINGS:
            messages = ws_settings.MESSAGE_RATE_LIMIT
        if messages is None:
            return None
        window = cls.message_rate_limit_window_seconds
        if window is FROM_SETTINGS:
            window = ws_settings.MESSAGE_RATE_LIMIT_WINDOW_SECONDS
        return message_queries.MessageRateLimit(messages=messages, window_seconds=window)

    # -- the routes ------------------------------------------------------------------------------------------

    def connect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Record the new connection. Override to add checks and call ``super().connect(...)`` to keep the record."""
        requested_channel = request.GET.get("channel", "")
        if requested_channel:
            self._validate_channel(requested_channel)  # before anything is written, the gateway's row included
        gateway = self.gateway_context.get_gateway()
        channel = requested_channel or gateway.default_channel_name
        user = request.user if request.user.is_authenticated else None
        session = WebSocketSession(
            connection_id=self.gateway_context.connection_id, channel_name=channel, user=user, api_gateway=gateway
        )
        if self._announces_presence(channel, user):
            from websockets_app.presence import record_connection

            record_connection(session)  # the same INSERT, and a join notice for the user's first connection
        else:
            WebSocketSession.objects.record(session)
        self.websocket_session = session
        return None

    def disconnect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Mark the connection closed, in one UPDATE."""
        if type(self).presence_notices:
            from websockets_app.presence import record_disconnection

            # The same UPDATE, and a leave notice for the user's last connection.
            if not record_disconnection(self.gateway_context.connection_id):
                return self._refuse(404, "unknown or already closed connection")
            return None
        closed = WebSocketSession.objects.filter(connection_id=self.gateway_context.connection_id).mark_disconnected()
        if not closed:
            return self._refuse(404, "unknown or already closed connection")
        return None

    def default(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Messages no other handler claims. Does nothing unless overridden."""
        return None

    # -- channels that survive reconnects, presence (built in; selectable on views that opt in) -----------------

    def resume(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        """``{"action": "resume", "since": n}``: post the channel's messages after n, or a gap notice."""
        from websockets_app.messaging import replay

        session = self._session_in_channel()
        try:
            since = replay.parse_since(self.body)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        if not replay.count_resume(session):
            raise RateLimited(replay.RESUME_RETRY_AFTER_SECONDS, "resume")
        for post in replay.answer_resume(session.channel_name, since).posts:
            session.send_message(post)
        return None

    def presence(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """``{"action": "presence"}``: who is connected to this connection's channel."""
        from websockets_app.presence import present_in

        return present_in(self._session_in_channel().channel_name).snapshot()

    def _session_in_channel(self) -> WebSocketSession:
        """This message's session; a 400 unless it has a channel (a message never names another one)."""
        session = self.websocket_session
        if session is None or not session.channel_name:
            raise BadRequest("this action needs a connection opened with a channel")
        return session

    def _announces_presence(self, channel: str, user: Any) -> bool:
        return type(self).presence_notices and bool(channel) and user is not None

    # -- helpers for subclasses ----------------------------------------------------------------------------------

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        """The message body as a JSON object; anything else (or more than API Gateway's limit) is a bad request."""
        declared_length = request.META.get("CONTENT_LENGTH") or ""
        if declared_length.isdigit() and int(declared_length) > MAX_MESSAGE_BYTES:
            raise BadRequest(f"message larger than {describe_bytes(MAX_MESSAGE_BYTES)}")  # refused before it is read
        if not request.body:
            return {}
        if len(request.body) > MAX_MESSAGE_BYTES:
            raise BadRequest(f"message larger than {describe_bytes(MAX_MESSAGE_BYTES)}")
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            # RecursionError: nesting deeper than the interpreter's recursion limit ("[[[[..." fits in 128 KB).
            raise BadRequest("body is not JSON") from exc
        if not isinstance(body, dict):
            raise BadRequest("body is not a JSON object")
        return body

    def select_handler(self, route: str) -> str:
        """The method that handles this message.

        An explicit ``handler`` must name an allowed handler (else 400). Otherwise the ``action`` (route selection
        key) or the route itself picks the handler when it names an allowed one, and ``default`` takes the rest.
        """
        allowed = type(self)._allowed_handlers
        requested = self.body.get(self.handler_selection_key)
        if requested is not None:
            if not isinstance(requested, str) or requested not in allowed:
                raise BadRequest("unknown handler")
            return requested
        action = self.body.get(self.route_selection_key)
        if isinstance(action, str) and action in allowed:
            return action
        if route in allowed:
            return route
        return "default"

    def check_permissions(self, user: Any) -> None:
        """Raise PermissionDenied unless ``user`` has one of ``permissions_required`` and all of the other list."""
        PermissionRule(any_of=tuple(self.permissions_required), all_of=tuple(self.all_permissions_required)).check(user)

    def change_channel(self, channel_name: str) -> None:
        """Move this connection to another channel (validated; one UPDATE)."""
        if self.websocket_session is None:
            raise ValueError("change_channel() needs a connected session (call it from a message handler).")
        self._validate_channel(channel_name)
        WebSocketSession.objects.filter(pk=self.websocket_session.pk).update(
            channel_name=channel_name, updated_on=timezone.now()
        )
        self.websocket_session.channel_name = channel_name

    def _take_token(self, request: HttpRequest) -> str | None:
        """The token the request presents; the request keeps ``***`` in its place (GET and the query string)."""
        name = self.token_query_parameter
        taken_before_django = request.META.get(QUERY_TOKENS_ENVIRON_KEY)
        if isinstance(taken_before_django, TakenTokens) and name in taken_before_django:
            return taken_before_django.get(name)  # the query string already shows ***
        if name not in request.GET:
            return None
        token = request.GET.get(name)
        redacted_query = request.GET.copy()
        redacted_query.setlist(name, [REDACTED] * len(request.GET.getlist(name)))
        redacted_query._mutable = False
        request.GET = cast("_ImmutableQueryDict", redacted_query)  # immutable again, as Django made it
        request.META["QUERY_STRING"] = redact_query_string(request.META.get("QUERY_STRING", ""), names={name})
        return token

    def _connection_limits(self) -> ConnectionLimits | None:
        """This view's connection limits (RATE_LIMIT_* attributes); None: the WEBSOCKETS settings as they are."""
        cls = type(self)
        if cls.RATE_LIMIT_ENABLED and not cls.RATE_LIMIT_MAX_ATTEMPTS and not cls.RATE_LIMIT_WINDOW_MINUTES:
            return None
        limits = ConnectionLimits.from_settings()
        if not cls.RATE_LIMIT_ENABLED:
            return ConnectionLimits(ip_attempts=None, user_attempts=None, window_seconds=limits.window_seconds)
        attempts = cls.RATE_LIMIT_MAX_ATTEMPTS
        return ConnectionLimits(
            ip_attempts=attempts or limits.ip_attempts,
            user_attempts=attempts or limits.user_attempts,
            window_seconds=cls.RATE_LIMIT_WINDOW_MINUTES * 60 or limits.window_seconds,
        )

    def _validate_channel(self, channel_name: object) -> None:
        """The view's own channel rule (CHANNEL_NAME_PATTERN, MAX_CHANNEL_NAME_LENGTH), else the settings'."""
        cls = type(self)
        if cls.CHANNEL_NAME_PATTERN is None and cls.MAX_CHANNEL_NAME_LENGTH is None:
            validate_channel_name(channel_name)
            return
        max_length = cls.MAX_CHANNEL_NAME_LENGTH or min(ws_settings.CHANNEL_NAME_MAX_LENGTH, CHANNEL_NAME_COLUMN_LENGTH)
        pattern = cls.CHANNEL_NAME_PATTERN if cls.CHANNEL_NAME_PATTERN is not None else ws_settings.CHANNEL_NAME_PATTERN
        # The messages never repeat the value or the pattern: they may reach a client.
        if not isinstance(channel_name, str) or not channel_name:
            raise ValidationError("A channel name must be a non-empty string.")
        if len(channel_name) > max_length:
            raise ValidationError(f"A channel name is at most {max_length} characters.")
        if not re.fullmatch(pattern, channel_name):
            raise ValidationError("The channel name has characters that are not allowed.")

    def _check_required_headers(self, request: HttpRequest) -> None:
        for header in [*self.required_headers, *self.additional_required_headers]:
            if header not in request.headers:
                raise BadRequest(f"missing header {header}")

    def _debug(self, message: str) -> None:
        """Record why a request was refused. Override to send it elsewhere."""
        if self.debug:
            self.debug_log.append(message)

    def _refuse(self, status: int, reason: str) -> HttpResponse:
        # The reason is for the operator (logs, debug_log); the client only learns the status.
        context = self.gateway_context
        self._debug(reason)
        logger.warning(
            "WebSocket request refused: %s",
            reason,
            extra={"status": status, "connection_id": context.connection_id, "event_type": context.event_type},
        )
        return HttpResponse(_GENERIC_MESSAGES[status], status=status, content_type="text/plain; charset=utf-8")

    def _fail(self, request: HttpRequest) -> HttpResponse:
        # An unexpected error: logged once, with what identifies the request, and told to error reporters through
        # Django's signal. Nobody is mailed, and the client learns nothing about it.
        context = self.gateway_context
        logger.exception(
            "WebSocket handler failed",
            extra={
                "connection_id": context.connection_id,
                "event_type": context.event_type,
                "route_key": context.route_key,
                "handler": self.handler_name,
                "user_id": _loaded_user_id(request),
            },
        )
        got_request_exception.send(sender=type(self), request=request)
        return HttpResponse(_GENERIC_MESSAGES[500], status=500, content_type="text/plain; charset=utf-8")


_GENERIC_MESSAGES = {
    400: "Bad request.",
    403: "Forbidden.",
    404: "Not found.",
    429: "Too many requests.",
    500: "Internal server error.",
}


def _loaded_user_id(request: HttpRequest) -> Any:
    # Only a user already loaded: loading one now could fail the same way the request just did.
    user = getattr(request, "user", None)
    # LazyObject's own "not loaded yet" marker, which django-stubs do not declare.
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:  # type: ignore[attr-defined]
        return None
    return getattr(user, "pk", None)


def _accepted(result: Any) -> bool:
    return not (isinstance(result, HttpResponseBase) and result.status_code >= 300)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc) or "bad request"


def _as_response(result: Any) -> HttpResponseBase:
    if result is None:
        return HttpResponse(status=200)
    if isinstance(result, HttpResponseBase):
        return result
    if isinstance(result, dict | list):
        return JsonResponse(result, safe=False)
    raise TypeError(f"A WebSocket handler must return None, a response, a dict or a list, not {type(result).__name__}.")


# Names that belong to the view machinery: no message can select them, whatever a subclass declares.
FRAMEWORK_NAMES: frozenset[str] = frozenset(name for name in dir(WebSocketView) if name != "default")


def _allowed_handlers(cls: type[WebSocketView]) -> frozenset[str]:
    """The names a message may select: methods marked ``@handler``, the names the two lists declare, ``default``.

    Opt-in, so that a public method a mixin brings (``has_permission``, ``get_login_url``, ...) is never one.
    """
    marked = {name for name in dir(cls) if not name.startswith("__") and is_handler(getattr(cls, name, None))}
    listed = set(cls.ALLOWED_HANDLERS or ()) | set(cls.ADDITIONAL_ALLOWED_HANDLERS)
    forbidden = sorted((marked | listed) & FRAMEWORK_NAMES)
    if forbidden:
        raise ImproperlyConfigured(f"{cls.__name__} allows framework methods as handlers: {', '.join(forbidden)}.")
    for name in sorted(marked | listed):
        if not (
            isinstance(name, str)
            and name.isidentifier()
            and not name.startswith("_")
            and len(name) <= _HANDLER_NAME_MAX_LENGTH
            and callable(getattr(cls, name, None))
        ):
            raise ImproperlyConfigured(f"{cls.__name__} allows handler {name!r}, which is not a method of the view.")
    built_in = {"resume"} if cls.replay_channels else set()
    if cls.presence_notices:
        built_in.add("presence")
    return frozenset(marked | listed | built_in | {"default"})


def _check_message_rate_limit(cls: type[WebSocketView]) -> None:
    messages, window = cls.message_rate_limit, cls.message_rate_limit_window_seconds
    if not (messages is FROM_SETTINGS or messages is None or _is_positive_int(messages)):
        raise ImproperlyConfigured(f"{cls.__name__}.message_rate_limit must be a positive integer or None.")
    if not (window is FROM_SETTINGS or (_is_positive_int(window) and window <= 86400)):
        raise ImproperlyConfigured(
            f"{cls.__name__}.message_rate_limit_window_seconds must be a number of seconds from 1 to 86400."
        )


def _check_legacy_attributes(cls: type[WebSocketView]) -> None:
    """The original package's view attributes, checked when the class is defined (a typo fails at import)."""
    api_id = cls.aws_api_gateway_id
    if api_id is not None and not (isinstance(api_id, str) and re.fullmatch(r"[a-z0-9]{1,32}", api_id)):
        raise ImproperlyConfigured(
            f"{cls.__name__}.aws_api_gateway_id must be an API id such as 'a1b2c3d4e5', or None."
        )
    if not isinstance(cls.RATE_LIMIT_ENABLED, bool):
        raise ImproperlyConfigured(f"{cls.__name__}.RATE_LIMIT_ENABLED must be True or False.")
    for name, maximum in (("RATE_LIMIT_MAX_ATTEMPTS", 10**6), ("RATE_LIMIT_WINDOW_MINUTES", 1440)):
        value = getattr(cls, name)
        if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum):
            raise ImproperlyConfigured(f"{cls.__name__}.{name} must be 0 (the settings) or from 1 to {maximum}.")
    length = cls.MAX_CHANNEL_NAME_LENGTH
    if length is not None and not (_is_positive_int(length) and length <= CHANNEL_NAME_COLUMN_LENGTH):
        raise ImproperlyConfigured(
            f"{cls.__name__}.MAX_CHANNEL_NAME_LENGTH must be from 1 to {CHANNEL_NAME_COLUMN_LENGTH}, or None."
        )
    pattern = cls.CHANNEL_NAME_PATTERN
    try:
        if pattern is not None:
            re.compile(pattern)
    except (TypeError, re.error) as exc:
        raise ImproperlyConfigured(f"{cls.__name__}.CHANNEL_NAME_PATTERN must be a regular expression.") from exc


def _is_positive_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@method_decorator([csrf_protect, never_cache], name="dispatch")
class WebSocketTokenView(LoginRequiredMixin, View):
    """POST (logged in, with the CSRF token) -> ``{"token": "...", "expires_in": 60}``: one connect's ticket.

    The browser calls it before every connect and reconnect and opens ``wss://...?ws_token=<token>``. Anonymous
    callers get 403, a GET 405, and a user over the token rate limit 429 with Retry-After.
    """

    http_method_names = ["post"]

    # django-stubs declare only the redirect to the login page; a JSON endpoint answers 403 instead.
    def handle_no_permission(self) -> HttpResponse:  # type: ignore[override]
        return JsonResponse({"error": "Log in to request a WebSocket token."}, status=403)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            issued = issue_token(request.user, self._session_key(request))
        except RateLimited as exc:
            logger.warning("WebSocket token refused: rate limit reached", extra={"user_id": request.user.pk})
            refusal = JsonResponse({"error": "Too many token requests; try again later."}, status=429)
            refusal["Retry-After"] = str(exc.retry_after)
            return refusal
        return JsonResponse({"token": issued.token, "expires_in": issued.expires_in})

    @staticmethod
    def _session_key(request: HttpRequest) -> str:
        """The request's session key; a user authenticated without a session (HTTP auth, a header-token middleware)
        gets one, sent as a cookie with this response, so the token can be bound to it as TOKEN_REQUIRES_SESSION
        expects."""
        if request.session.session_key is None:
            request.session.save()
            request.session.modified = True  # SessionMiddleware sends the cookie only for a modified session
        session_key = request.session.session_key
        if session_key is None:
            raise ImproperlyConfigured("The session engine saved a session without giving it a key.")
        return session_key
