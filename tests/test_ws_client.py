"""ws-client.js in headless Chromium, against a token endpoint and a WebSocket that Playwright plays.

No server and no network: the page, the module, the token endpoint and the socket are all answered by Playwright's
routes, so each test can make the token endpoint fail, throttle or refuse, and watch what the client does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser import chromium_browser

pytestmark = pytest.mark.browser

CLIENT_JS = Path(__file__).resolve().parent.parent / "websockets_app" / "static" / "websockets_app" / "ws-client.js"
ORIGIN = "http://127.0.0.1:9"
SOCKET_URL = "ws://127.0.0.1:9/production?stage=keep"

# Loads the client and records every event it dispatches in window.seen.
HARNESS = """
async (options) => {
  const { WebSocketClient } = await import("/ws-client.js");
  window.seen = [];
  const client = new WebSocketClient(options);
  const types = ["open", "message", "close", "reconnecting", "state", "error", "unauthorized", "gap", "presence"];
  for (const type of types) {
    client.addEventListener(type, (event) => window.seen.push({ type, detail: event.detail ?? null, seq: event.seq }));
  }
  window.client = client;
}
"""


@pytest.fixture(scope="module")
def chromium():
    with chromium_browser() as browser:
        yield browser


@pytest.fixture
def page(chromium):
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.route(
        f"{ORIGIN}/", lambda route: route.fulfill(body="<!doctype html><title>t</title>", content_type="text/html")
    )
    page.route(
        f"{ORIGIN}/ws-client.js",
        lambda route: route.fulfill(body=CLIENT_JS.read_text(), content_type="text/javascript"),
    )
    page.goto(f"{ORIGIN}/")
    yield page
    context.close()


def _tokens(page, *answers: dict) -> list[dict]:
    """Answer token requests in turn with ``answers`` (the last one repeats); returns the requests seen."""
    requests: list[dict] = []

    def answer(route) -> None:
        requests.append({"method": route.request.method, "headers": route.request.headers})
        spec = answers[min(len(requests), len(answers)) - 1]
        route.fulfill(
            status=spec.get("status", 200),
            headers=spec.get("headers", {}),
            body=json.dumps(spec.get("body", {"token": f"token-{len(requests)}", "expires_in": 60})),
            content_type="application/json",
        )

    page.route(f"{ORIGIN}/api/ws-token/", answer)
    return requests


def _sockets(page, *, reply_pong: bool = True) -> list:
    """Accept every WebSocket the page opens; each is kept with the URL it was opened on and what it received."""
    opened: list = []

    def accept(socket) -> None:
        received: list[str] = []
        opened.append((socket, received))

        def on_message(message: str) -> None:
            received.append(message)
            if reply_pong and "ping" in message:
                socket.send('{"pong": true}')

        socket.on_message(on_message)

    page.route_web_socket("ws://127.0.0.1:9/**", accept)
    return opened


def _start(page, **options) -> None:
    page.evaluate(HARNESS, {"url": SOCKET_URL, "tokenUrl": "/api/ws-token/", **options})


def _seen(page, event_type: str) -> list:
    return [event["detail"] for event in page.evaluate("window.seen") if event["type"] == event_type]


def _wait(page, condition: str) -> None:
    page.wait_for_function(condition)


def test_each_connect_asks_for_a_fresh_token_with_the_csrf_header(page):
    page.context.add_cookies([{"name": "csrftoken", "value": "csrf-abc", "url": f"{ORIGIN}/"}])
    requests = _tokens(page, {})
    opened = _sockets(page)
    _start(page, channel="lobby room")
    _wait(page, "window.client.state === 'open'")
    url = opened[0][0].url
    assert url.startswith("ws://127.0.0.1:9/production?")
    assert "stage=keep" in url  # the configured query is kept
    assert "channel=lobby+room" in url or "channel=lobby%20room" in url
    assert "ws_token=token-1" in url
    assert requests[0]["method"] == "POST"
    assert requests[0]["headers"]["x-csrftoken"] == "csrf-abc"

    opened[0][0].close(code=1011)  # the server side goes away: the client comes back with the next token
    _wait(page, "window.client.state === 'open' && window.seen.filter(e => e.type === 'open').length === 2")
    assert "ws_token=token-2" in opened[1][0].url
    assert len(requests) == 2


def test_sends_wait_in_a_bounded_queue_and_go_out_in_order_on_open(page):
    _tokens(page, {})
    opened = _sockets(page, reply_pong=False)
    page.evaluate(
        HARNESS.replace(
            "window.client = client;",
            "window.client = client; client.send({n: 1}); client.send({n: 2}); client.send({n: 3});",
        ),
        {"url": SOCKET_URL, "tokenUrl": "/api/ws-token/", "maxQueue": 2},
    )
    _wait(page, "window.client.state === 'open'")
    page.wait_for_timeout(100)
    assert [json.loads(message) for message in opened[0][1]] == [{"n": 2}, {"n": 3}]
    [overflow] = _seen(page, "error")
    assert overflow["reason"] == "queue-full"
    assert json.loads(overflow["dropped"]) == {"n": 1}


def test_failures_back_off_exponentially_with_jitter_under_the_cap(page):
    _tokens(page, {"status": 500, "body": {}})
    _sockets(page)
    _start(page, backoff={"initialMs": 20, "maxMs": 80, "factor": 2})
    _wait(page, "window.seen.filter(e => e.type === 'reconnecting').length >= 8")
    delays = [(event["attempt"], event["delayMs"]) for event in _seen(page, "reconnecting")][:8]
    assert [attempt for attempt, _ in delays] == list(range(1, 9))
    for attempt, delay in delays:
        assert 0 <= delay < min(80, 20 * 2 ** (attempt - 1))
    assert len({delay for _, delay in delays}) > 1  # jittered, not a fixed schedule
    assert page.evaluate("window.client.state") == "reconnecting"


def test_a_throttled_token_request_waits_as_long_as_retry_after_says(page):
    _tokens(page, {"status": 429, "headers": {"Retry-After": "2"}, "body": {}}, {})
    _sockets(page)
    _start(page)
    _wait(page, "window.seen.some(e => e.type === 'reconnecting')")
    assert _seen(page, "reconnecting")[0]["delayMs"] == 2000


def test_a_refused_token_request_stops_the_client_for_good(page):
    requests = _tokens(page, {"status": 403, "body": {"detail": "not signed in"}})
    _sockets(page)
    _start(page)
    _wait(page, "window.seen.some(e => e.type === 'unauthorized')")
    page.wait_for_timeout(300)
    assert len(requests) == 1
    assert page.evaluate("window.client.state") == "closed"
    assert "closed" in page.evaluate("(() => { try { window.client.send({}); } catch (e) { return e.message; } })()")


def test_switching_channel_reconnects_on_the_new_channel_and_close_is_final(page):
    requests = _tokens(page, {})
    opened = _sockets(page)
    _start(page, channel="lobby")
    _wait(page, "window.client.state === 'open'")
    page.evaluate("window.client.switchChannel('garden')")
    _wait(page, "window.seen.filter(e => e.type === 'open').length === 2")
    assert "channel=garden" in opened[1][0].url
    assert page.evaluate("window.client.channel") == "garden"
    page.evaluate("window.client.close()")
    page.wait_for_timeout(300)
    assert page.evaluate("window.client.state") == "closed"
    assert len(requests) == 2  # no reconnect after close()
    assert _seen(page, "close")[-1]["willReconnect"] is False


def test_messages_are_parsed_as_json_when_they_are_json(page):
    _tokens(page, {})
    opened = _sockets(page)
    _start(page)
    _wait(page, "window.client.state === 'open'")
    opened[0][0].send('{"type": "chat.message", "text": "hi"}')
    opened[0][0].send("plain text")
    _wait(page, "window.seen.filter(e => e.type === 'message').length === 2")
    assert _seen(page, "message") == [{"type": "chat.message", "text": "hi"}, "plain text"]


def test_keepalives_are_sent_only_when_the_connection_is_quiet(page):
    _tokens(page, {})
    opened = _sockets(page)
    _start(page, keepaliveSeconds=0.2)
    _wait(page, "window.client.state === 'open'")
    # Busy: a message every 100 ms for 600 ms leaves no silence of 200 ms to fill.
    page.evaluate("""async () => {
        for (let n = 0; n < 6; n++) { window.client.send({ n }); await new Promise((r) => setTimeout(r, 100)); }
    }""")
    received = opened[0][1]
    assert [json.loads(message) for message in received] == [{"n": n} for n in range(6)]
    # Quiet: a ping every 200 ms.
    page.wait_for_timeout(700)
    pings = [message for message in received[6:] if json.loads(message) == {"action": "ping"}]
    assert 2 <= len(pings) <= 4
    assert len(received) == 6 + len(pings)


# -- channels that survive reconnects --------------------------------------------------------------------------------


def _envelope(seq: int, text: str, channel: str = "lobby") -> dict:
    return {"seq": seq, "id": f"id-{seq}", "channel": channel, "data": {"text": text}}


def _texts(page) -> list[str]:
    return [detail["text"] for detail in _seen(page, "message") if isinstance(detail, dict) and "text" in detail]


def _sent(received: list[str]) -> list[dict]:
    return [json.loads(message) for message in received]


def test_numbered_messages_arrive_as_their_data_and_a_repeat_is_dropped(page):
    _tokens(page, {})
    opened = _sockets(page)
    _start(page, channel="lobby")
    _wait(page, "window.client.state === 'open'")
    socket = opened[0][0]
    for seq, text in ((1, "one"), (2, "two"), (2, "two again"), (1, "one again"), (3, "three")):
        socket.send(json.dumps(_envelope(seq, text)))
    _wait(page, "window.client.lastSeq() === 3")
    page.wait_for_timeout(100)
    assert _texts(page) == ["one", "two", "three"]
    assert [event["seq"] for event in page.evaluate("window.seen") if event["type"] == "message"] == [1, 2, 3]


def test_the_first_open_does_not_resume_and_every_reconnect_does_from_the_last_number(page):
    _tokens(page, {})
    opened = _sockets(page, reply_pong=False)
    _start(page, channel="lobby")
    _wait(page, "window.client.state === 'open'")
    assert _seen(page, "open") == [{"resumed": False}]
    opened[0][0].send(json.dumps(_envelope(7, "seven")))
    _wait(page, "window.client.lastSeq() === 7")
    opened[0][0].close(code=1006)
    _wait(page, "window.seen.filter(e => e.type === 'open').length === 2")
    assert _sent(opened[0][1]) == []
    page.wait_for_timeout(100)
    assert _sent(opened[1][1])[0] == {"action": "resume", "since": 7}
    assert _seen(page, "open")[1] == {"resumed": True}


def test_a_page_that_knows_where_it_stands_resumes_on_the_first_open(page):
    _tokens(page, {})
    opened = _sockets(page, reply_pong=False)
    _start(page, channel="lobby", since=41)
    _wait(page, "window.client.state === 'open'")
    page.wait_for_timeout(100)
    assert _sent(opened[0][1]) == [{"action": "resume", "since": 41}]


def test_a_replay_is_delivered_in_order_before_live_messages_that_overtook_it(page):
    _tokens(page, {})
    opened = _sockets(page, reply_pong=False)
    _start(page, channel="lobby", since=1)
    _wait(page, "window.client.state === 'open'")
    socket = opened[0][0]
    socket.send(json.dumps(_envelope(5, "five")))  # live, sent while the replay was on its way
    replay = {"type": "replay", "channel": "lobby", "messages": [_envelope(n, str(n)) for n in (2, 3, 4)]}
    socket.send(json.dumps(replay))
    socket.send(json.dumps({"type": "replay", "channel": "lobby", "messages": [_envelope(4, "4")]}))
    _wait(page, "window.client.lastSeq() === 5")
    page.wait_for_timeout(100)
    assert _texts(page) == ["2", "3", "4", "five"]


def test_live_messages_wait_for_the_last_post_of_a_replay_split_over_several(page):
    _tokens(page, {})
    opened = _sockets(page, reply_pong=False)
    _start(page, channel="lobby", since=1)
    _wait(page, "window.client.state === 'open'")
    socket = opened[0][0]
    socket.send(json.dumps(_envelope(7, "seven")))  # live, sent while the replay was on its way
    first = {"type": "replay", "channel": "lobby", "more": True, "messages": [_envelope(n, str(n)) for n in (2, 3, 4)]}
    socket.send(json.dumps(first))
    page.wait_for_timeout(100)
    assert _texts(page) == ["2", "3", "4"]  # more to come: the live one still waits
    socket.send(json.dumps({"type": "replay", "channel": "lobby", "messages": [_envelope(n, str(n)) for n in (5, 6)]}))
    _wait(page, "window.client.lastSeq() === 7")
    page.wait_for_timeout(100)
    assert _texts(page) == ["2", "3", "4", "5", "6", "seven"]


def test_a_gap_notice_is_an_event_and_numbers_go_on_from_its_last(page):
    _tokens(page, {})
    opened = _sockets(page, reply_pong=False)
    _start(page, channel="lobby", since=1)
    _wait(page, "window.client.state === 'open'")
    gap = {"type": "gap", "channel": "lobby", "since": 1, "first": 40, "last": 90}
    opened[0][0].send(json.dumps(gap))
    opened[0][0].send(json.dumps(_envelope(90, "old")))
    opened[0][0].send(json.dumps(_envelope(91, "new")))
    _wait(page, "window.client.lastSeq() === 91")
    assert _seen(page, "gap") == [gap]
    assert _texts(page) == ["new"]


def test_presence_notices_are_their_own_events(page):
    _tokens(page, {})
    opened = _sockets(page)
    _start(page, channel="lobby")
    _wait(page, "window.client.state === 'open'")
    join = {"type": "presence", "event": "join", "channel": "lobby", "user": {"id": 1, "name": "ada"}}
    opened[0][0].send(json.dumps(join))
    _wait(page, "window.seen.some(e => e.type === 'presence')")
    assert _seen(page, "presence") == [join]
    assert _seen(page, "message") == []
