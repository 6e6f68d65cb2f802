"""Hypothesis strategies for hostile API Gateway events, built on the realistic events in tests/events.py.

Each strategy starts from an event as API Gateway sends it and then breaks it: bodies of every shape and size,
base64 that is and is not base64, headers and query strings full of odd unicode, route keys and connection ids
of every shape, request-context fields missing or of the wrong type.

Hypothesis pays for every value it draws, and drawing text costs a draw per character; the suite runs more than
ten thousand events. So hostile text mostly comes whole from the lists below and free-form text is short, huge
bodies are built from two drawn choices, and every strategy is built once, at import.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections import Counter
from typing import Any

from hypothesis import strategies as st

from tests.events import (
    API_ID,
    CONNECTION_ID,
    DOMAIN,
    SOURCE_IP,
    connect_event,
    disconnect_event,
    http_event,
    message_event,
)
from websockets_app.limits import MAX_MESSAGE_BYTES

# Events pushed through ``infra.handlers.handler`` in this run and the seconds they took, per kind, and how many
# were accepted or refused; the terminal summary prints them.
events_run: Counter[str] = Counter()
seconds_spent: Counter[str] = Counter()
outcomes: Counter[str] = Counter()

# API Gateway refuses WebSocket messages and HTTP API payloads above its limit; the handler must cope with anything.
API_GATEWAY_PAYLOAD_LIMIT = MAX_MESSAGE_BYTES

# Connections the tests create before generating events, so messages reach real sessions and handlers.
LIVE_CONNECTION_IDS = (CONNECTION_ID, "live-2=", "owned-by-user=")
CLOSED_CONNECTION_ID = "closed-1="
KNOWN_CONNECTION_IDS = (*LIVE_CONNECTION_IDS, CLOSED_CONNECTION_ID)

# Strings that have broken parsers before: control characters, RTL overrides, lone surrogates, path tricks,
# injection attempts, header splitting, overlong and empty values.
NASTY_STRINGS = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202eevil\u202c",
    "\u200f\u05e9\u05dc\u05d5\u05dd",
    "\ufeff",
    "\ud800",
    "\udcff",
    "\U0001f600",
    "\u00e9",
    "\u20ac",
    "\u0100",
    "\r\nSet-Cookie: x=1",
    "\n",
    "../../etc/passwd",
    "%2e%2e%2f",
    "%00",
    "%ff",
    "' OR 1=1 --",
    '"; DROP TABLE websockets_app_websocketsession; --',
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "null",
    "undefined",
    "NaN",
    "-1",
    "0",
    "9" * 40,
    "x" * 129,
    "x" * 5000,
)
# Text from every corner of Unicode: scripts, combining marks, joiners, separators, non-characters, the edges
# of the code space, surrogate pairs in both orders.
UNICODE_STRINGS = (
    "\u0645\u0631\u062d\u0628\u0627 \u202bmixed\u202c",
    "\u4f60\u597d\uff0c\u4e16\u754c",
    "\uff21\uff22\uff23",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320A",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "e\u0301",
    "\u2028\u2029",
    "\ufffd\ufffe\uffff",
    "\U0010ffff",
    "\x7f\x80\x9f",
    "\x01\x1f",
    "tab\there",
    'quote"and\\back',
    "\u0130\u0131\u017f",
    "\U0001d54f\U0001d550",
    "\udbff\udfff",
    "\udfff\udbff",
    "a" * 256,
    "\u00ff" * 64,
)

# Names a message might try to select: real handlers, view machinery, dunder and private names.
HANDLER_NAMES = (
    "default",
    "ping",
    "join",
    "connect",
    "disconnect",
    "dispatch",
    "setup",
    "as_view",
    "http_method_not_allowed",
    "options",
    "check_permissions",
    "change_channel",
    "parse_body",
    "select_handler",
    "_refuse",
    "_handle_message",
    "__init__",
    "__class__",
    "__init_subclass__",
    "PING",
    "ping ",
)

ROUTE_KEYS = ("$connect", "$disconnect", "$default", "ping", "join", "dispatch", "$", "", "$$default", "a/b", "..")
EVENT_TYPES = ("CONNECT", "MESSAGE", "DISCONNECT")


def mostly(usual: st.SearchStrategy[Any], *unusual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` half the time, so enough events get past the first check; each of ``unusual`` equally often.

    Not ``st.one_of``: it drops repeated strategies and flattens nested ones, so it cannot weight the choice.
    """

    @st.composite
    def weighted(draw: st.DrawFn) -> Any:
        slot = draw(st.integers(0, 2 * len(unusual) - 1))
        return draw(usual if slot < len(unusual) else unusual[slot - len(unusual)])

    return weighted()


hostile_strings = st.sampled_from(NASTY_STRINGS + UNICODE_STRINGS)
any_text = mostly(st.text(max_size=8), st.text(st.characters(codec=None), max_size=4))
nasty_text = mostly(hostile_strings, any_text)

# JSON scalars include what json.loads accepts beyond the standard: NaN and the infinities.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
)
KEEP = object()  # a marker: leave this part of the event as API Gateway sent it
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(nasty_text, children, max_size=3)),
    max_leaves=4,
)
wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
odd_values = st.one_of(nasty_text, wrong_types)
odd_event_types = st.one_of(st.sampled_from(("connect", "PING", "", "MESSAGE ")), wrong_types)

# -- bodies --------------------------------------------------------------------------------------------------------

selection_keys = st.sets(st.sampled_from(("action", "handler")))
handler_choices = mostly(st.sampled_from(HANDLER_NAMES), json_values)
rooms = st.one_of(nasty_text, wrong_types, st.sampled_from(("lobby", "kitchen", "x" * 128)))


JSON_SAMPLES = (
    None,
    True,
    0,
    -1,
    2**64,
    1.5,
    float("nan"),
    float("inf"),
    "",
    [],
    {},
    [1, "2", None],
    {"action": "ping"},
    [{"action": "ping"}],
    {"": {"": {"": []}}},
    *NASTY_STRINGS,
    *UNICODE_STRINGS,
)
ROOMS = ("lobby", "kitchen", "x" * 128, "x" * 129, "bad\nname", "\x00", "\u202eroom", "\ud800", "", None, 7, ["a"])
# Every selection key with every handler name or odd value, with and without a room to join.
MESSAGE_OBJECTS = tuple(
    {**({} if key is None else {key: name}), **({} if room is KEEP else {"room": room})}
    for key, name, room in itertools.product((None, "action", "handler"), HANDLER_NAMES + JSON_SAMPLES, (KEEP, *ROOMS))
)


@st.composite
def drawn_message_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON object that tries to pick a handler: known and forbidden names, and values of the wrong type."""
    body = draw(st.dictionaries(nasty_text, json_values, max_size=2))
    for key in draw(selection_keys):
        body[key] = draw(handler_choices)
    if draw(st.booleans()):
        body["room"] = draw(rooms)
    return body


@st.composite
def huge_bodies(draw: st.DrawFn) -> str:
    """Bodies at API Gateway's limit, just over it and far over it (up to 3 MB, past Django's upload limit)."""
    size = draw(
        st.sampled_from(
            (API_GATEWAY_PAYLOAD_LIMIT, API_GATEWAY_PAYLOAD_LIMIT + 1, 200_000, 1_000_000, 2_621_441, 3_000_000)
        )
    )
    filler = draw(st.sampled_from(("x", "\u00e9", "\x00", "\U0001f600", " ")))
    if draw(st.booleans()):
        # A valid JSON object that selects a real handler, padded to the size.
        head = '{"action": "ping", "pad": "'
        return head + json.dumps(filler)[1:-1] * max(0, size - len(head) - 2) + '"}'
    return filler * size


message_objects = mostly(st.sampled_from(MESSAGE_OBJECTS), drawn_message_objects())
json_documents = mostly(st.sampled_from(JSON_SAMPLES), json_values)
not_json = st.one_of(nasty_text, st.sampled_from(("{", "[1, 2", '{"action": ', "\ufeff{}", "{}{}")))
empty_bodies = st.sampled_from(("", None, "   ", "{}", "null"))
BODY_KINDS = ("object", "object", "object", "json", "text", "empty", "huge", "wrong-type")


@st.composite
def text_bodies(draw: st.DrawFn) -> Any:
    """What a MESSAGE's ``body`` can be: JSON of any shape, text that is not JSON, nothing, a non-string."""
    kind = draw(st.sampled_from(BODY_KINDS))
    if kind == "object":
        return json.dumps(draw(message_objects), ensure_ascii=draw(st.booleans()))
    if kind == "json":
        return json.dumps(draw(json_documents), ensure_ascii=draw(st.booleans()))
    if kind == "text":
        return draw(not_json)
    if kind == "empty":
        return draw(empty_bodies)
    if kind == "huge":
        return draw(huge_bodies())
    return draw(wrong_types)


bad_base64 = st.one_of(nasty_text, st.sampled_from(("%%%", "abc", "YQ", "YQ==YQ==", "Y Q = =", "\u00ff\u00ff==")))
odd_flags = st.one_of(wrong_types, st.sampled_from(("true", "True", 1)))
BODY_ENCODINGS = ("plain", "plain", "base64", "base64-bytes", "bad-base64", "odd-flag")


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """The ``body`` and ``isBase64Encoded`` fields: plain, valid base64 (of JSON or of bytes), invalid base64."""
    body = draw(text_bodies())
    encoding = draw(st.sampled_from(BODY_ENCODINGS))
    if encoding == "plain":
        return {"body": body, "isBase64Encoded": False}
    if encoding == "base64":
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else b""
        return {"body": base64.b64encode(raw).decode(), "isBase64Encoded": True}
    if encoding == "base64-bytes":
        return {"body": base64.b64encode(draw(st.binary(max_size=64))).decode(), "isBase64Encoded": True}
    if encoding == "bad-base64":
        return {"body": draw(bad_base64), "isBase64Encoded": True}
    return {"body": body, "isBase64Encoded": draw(odd_flags)}


# -- connection ids, headers, query strings -----------------------------------------------------------------------

BASE64_URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-"
connection_ids = mostly(
    st.sampled_from(KNOWN_CONNECTION_IDS),
    st.text(st.sampled_from(BASE64_URL_ALPHABET), min_size=1, max_size=12),
    st.sampled_from(("", "=", "x" * 128, "x" * 129, "L0SM9cOFvHcCIhw=\x00", "abc=\n", "../abc=", "a b=", "\uff41=")),
    nasty_text,
    wrong_types,
)

HEADER_NAMES = (
    "Host",
    "Origin",
    "Cookie",
    "Content-Type",
    "Content-Length",
    "Transfer-Encoding",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-WebSocket-Secret",
    "X-WebSocket-Connection-Id",
    "X-WebSocket-Event-Type",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "User-Agent",
    "Authorization",
    "host",
    "COOKIE",
    "",
    "Bad Header",
    "X-\u202e",
    "X-\x00",
)
HEADER_VALUES = (
    DOMAIN,
    "evil.example",
    "https://www.example.com",
    "https://example.com.evil.net",
    "null",
    "sessionid=",
    "sessionid=abcdefghijklmnopqrstuvwxyz012345",
    'sessionid="abcdefgh\\000ijkl"',
    "sessionid=\x00\x00\x00\x00\x00\x00\x00\x00",
    "sessionid=\u0100\u0101\u0102\u0103\u0104\u0105\u0106\u0107",
    "csrftoken=x; sessionid=y; sessionid=z",
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/plain; charset=\u20ac",
    "-1",
    "99999999999999999999",
    "1.2.3.4, 5.6.7.8",
    "::1",
    "http",
    "chunked",
)
header_names = mostly(st.sampled_from(HEADER_NAMES), nasty_text)
header_values = mostly(st.sampled_from(HEADER_VALUES), nasty_text)
# Every listed name with every listed value, drawn whole (one draw each); free-form names and values the rest.
HEADER_PAIRS = tuple(itertools.product(HEADER_NAMES, HEADER_VALUES))
header_pairs = mostly(st.sampled_from(HEADER_PAIRS), st.tuples(header_names, header_values))
added_headers = st.lists(header_pairs, max_size=3).map(dict)
added_multi_value_headers = st.dictionaries(header_names, st.lists(header_values, max_size=3), max_size=2)
odd_headers = st.one_of(wrong_types, st.dictionaries(header_names, wrong_types, max_size=2))
odd_multi_value_headers = st.one_of(
    wrong_types, st.dictionaries(header_names, st.one_of(header_values, wrong_types), max_size=2)
)
HEADER_SHAPES = ("both", "both", "single", "multi", "odd")


def single_and_multi_value(
    draw: st.DrawFn,
    shape: str,
    keys: tuple[str, str],
    single: dict[str, Any],
    extra_multi_value: st.SearchStrategy[dict[str, Any]],
) -> dict[str, Any]:
    """The single-value field, the multi-value one (the same pairs, maybe more), or both, as ``shape`` says."""
    single_key, multi_key = keys
    fields: dict[str, Any] = {}
    if shape in ("both", "single"):
        fields[single_key] = single
    if shape in ("both", "multi"):
        multi = {name: [value] for name, value in single.items()}
        if draw(st.booleans()):
            multi.update(draw(extra_multi_value))
        fields[multi_key] = multi
    return fields


@st.composite
def headers(draw: st.DrawFn, base: dict[str, str]) -> dict[str, Any]:
    """``headers`` and ``multiValueHeaders``: the real ones with hostile additions, or either one malformed."""
    single = dict(base) if draw(st.integers(0, 3)) else {}
    single.update(draw(added_headers))
    shape = draw(st.sampled_from(HEADER_SHAPES))
    if shape == "odd":
        return {"headers": draw(odd_headers), "multiValueHeaders": draw(odd_multi_value_headers)}
    return single_and_multi_value(draw, shape, ("headers", "multiValueHeaders"), single, added_multi_value_headers)


QUERY_NAMES = ("channel", "ws_token", "channel[]", "ticket", "")
QUERY_VALUES = (
    "lobby",
    "",
    "x" * 128,
    "x" * 129,
    "a" * 43,
    "room\x00",
    "room\n",
    "\u202eroom",
    "%00",
    "\ud800",
    "\u20ac",
    *NASTY_STRINGS,
    *UNICODE_STRINGS,
)
query_names = mostly(st.sampled_from(QUERY_NAMES), nasty_text)
query_values = mostly(st.sampled_from(QUERY_VALUES), nasty_text)
query_pairs = mostly(
    st.sampled_from(tuple(itertools.product(QUERY_NAMES, QUERY_VALUES))), st.tuples(query_names, query_values)
)
query_dicts = st.lists(query_pairs, max_size=3).map(dict)
multi_value_query_dicts = st.dictionaries(query_names, st.lists(query_values, max_size=3), max_size=2)
odd_query_dicts = st.one_of(wrong_types, st.dictionaries(query_names, wrong_types, max_size=2))
odd_multi_value_query_dicts = st.one_of(
    wrong_types, st.dictionaries(query_names, st.lists(st.one_of(query_values, wrong_types), max_size=2), max_size=2)
)
QUERY_SHAPES = ("none", "both", "both", "single", "multi", "odd")


@st.composite
def query_strings(draw: st.DrawFn) -> dict[str, Any]:
    """``queryStringParameters`` and ``multiValueQueryStringParameters``, well-formed or not."""
    shape = draw(st.sampled_from(QUERY_SHAPES))
    if shape == "none":
        return {}
    if shape == "odd":
        return {
            "queryStringParameters": draw(odd_query_dicts),
            "multiValueQueryStringParameters": draw(odd_multi_value_query_dicts),
        }
    keys = ("queryStringParameters", "multiValueQueryStringParameters")
    return single_and_multi_value(draw, shape, keys, draw(query_dicts), multi_value_query_dicts)


# -- request contexts and whole events -----------------------------------------------------------------------------

# Request-context fields the code reads (eventType stays, so a damaged event is still routed as a WebSocket one).
DAMAGEABLE_FIELDS = ("connectionId", "apiId", "stage", "domainName", "identity", "requestId")
identities = st.one_of(
    st.fixed_dictionaries({"sourceIp": st.one_of(st.sampled_from((SOURCE_IP, "::1", "999.1.1.1", "")), nasty_text)}),
    st.fixed_dictionaries({"sourceIp": wrong_types}),
    wrong_types,
    nasty_text,
)
api_ids = st.one_of(st.sampled_from((API_ID, "other-api", "")), nasty_text, wrong_types)
damaged_fields = st.sets(st.sampled_from(DAMAGEABLE_FIELDS), min_size=1, max_size=3)


@st.composite
def damaged_request_context(draw: st.DrawFn, context: dict[str, Any]) -> dict[str, Any]:
    """The context with some fields dropped or given odd values."""
    context = dict(context)
    for field in draw(damaged_fields):
        if draw(st.booleans()):
            context.pop(field, None)
        elif field == "identity":
            context[field] = draw(identities)
        elif field == "apiId":
            context[field] = draw(api_ids)
        else:
            context[field] = draw(odd_values)
    return context


odd_route_keys = mostly(st.just(KEEP), st.sampled_from(ROUTE_KEYS), nasty_text, wrong_types)
SAMPLE_EVENTS = {"CONNECT": connect_event, "MESSAGE": message_event, "DISCONNECT": disconnect_event}


@st.composite
def websocket_events(draw: st.DrawFn, event_types: tuple[str, ...] = EVENT_TYPES) -> dict[str, Any]:
    """A CONNECT, MESSAGE or DISCONNECT event with hostile parts; about a third still get accepted."""
    event_type = draw(st.sampled_from(event_types))
    event = SAMPLE_EVENTS[event_type]()
    context = {**event["requestContext"], "connectionId": draw(connection_ids)}
    route_key = draw(odd_route_keys)
    if route_key is not KEEP:
        context["routeKey"] = route_key
    if draw(st.integers(0, 3)) == 0:
        context = draw(damaged_request_context(context))
    event["requestContext"] = context

    base_headers = event.pop("headers", {})
    event.pop("multiValueHeaders", None)
    event.update(draw(headers(base_headers)))
    if event_type == "CONNECT" or draw(st.integers(0, 4)) == 0:
        event.pop("queryStringParameters", None)
        event.pop("multiValueQueryStringParameters", None)
        event.update(draw(query_strings()))
    if event_type == "MESSAGE" or draw(st.integers(0, 4)) == 0:
        event.update(draw(bodies()))
    return event


HTTP_PATHS = (
    "/",
    "/ws/",
    "/ws/connect",
    "/ws/default",
    "/ws/disconnect",
    "/ws/ping",
    "/ws/dispatch",
    "/admin/",
    "/admin/login/",
    "/admin/websockets_app/websocketsession/",
    "/api/ws-token/",
    "/static/",
    "/static/admin/css/base.css",
    "//evil.example/",
    "/%2e%2e/",
    "/ws/%00",
    "/ws/%E2%82%AC",
)
HTTP_METHODS = ("GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "get", "BREW")
http_hosts = st.one_of(st.sampled_from((DOMAIN, "www.example.com", "")), nasty_text)
# HTTP API v2 sends header names in lower case.
http_headers = st.dictionaries(header_names.map(str.lower), header_values, max_size=3)
http_cookies = st.lists(header_values, max_size=3)


@st.composite
def http_events(draw: st.DrawFn) -> dict[str, Any]:
    """An HTTP API (payload v2) request with a hostile path, method, query string, headers, cookies and body.

    The envelope keeps the types API Gateway guarantees (strings, a dict of headers); everything a client
    controls is hostile.
    """
    path = draw(st.sampled_from(HTTP_PATHS))
    if draw(st.booleans()):
        path += draw(nasty_text)
    event = http_event(path, method=draw(st.sampled_from(HTTP_METHODS)), query=draw(nasty_text))
    if draw(st.booleans()):
        event["headers"]["host"] = draw(http_hosts)
    event["headers"].update(draw(http_headers))
    event["cookies"] = draw(http_cookies)
    body = draw(bodies())
    if isinstance(body["body"], str) and isinstance(body["isBase64Encoded"], bool):
        event.update(body)
    return event


top_level_keys_to_break = st.sets(
    st.sampled_from(("requestContext", "headers", "multiValueHeaders", "body")), max_size=3
)


@st.composite
def malformed_events(draw: st.DrawFn) -> dict[str, Any]:
    """A WebSocket event with top-level fields of the wrong type, or an event type API Gateway never sends."""
    event = draw(websocket_events())
    if draw(st.booleans()):
        event["requestContext"] = {**event["requestContext"], "eventType": draw(odd_event_types)}
    for key in draw(top_level_keys_to_break):
        event[key] = draw(odd_values)
    return event
