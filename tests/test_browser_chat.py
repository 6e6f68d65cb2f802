"""The chat example end to end in headless Chromium: Django pages, ws-client.js, the local gateway and Lambda code.

Two people log in, talk in a room, one changes room, the gateway drops a socket (the client comes back with a fresh
token, and the messages it missed are replayed) and a broadcast finds the dropped connection gone. Everything runs
on 127.0.0.1: the gateway on free ports, the project's handlers in-process on the test database, Debian's Chromium
driven by Playwright.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import chromium_browser
from tests.local_gateway import gateway_for_tests

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-output" / "browser"
PASSWORD = "a-long-test-password-1"
TIMEOUT_MS = 15_000

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def chromium(transactional_db, monkeypatch):
    """Headless Chromium, started after the test database exists and stopped before it is flushed."""
    from django.db import connections

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_browser() as browser:
        yield browser
        # While that loop runs, Django keeps this context's connections apart from the thread's: close them here,
        # or the test database cannot be dropped at the end of the run.
        connections.close_all()


@pytest.fixture
def site(settings, aws_credentials):
    """The gateway serving the project's own URLs, on free ports."""
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    with gateway_for_tests(settings) as running:
        settings.WEBSOCKETS = {**settings.WEBSOCKETS, "ALLOWED_ORIGINS": [running.gateway.http_url]}
        yield running


def _user(name: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(name, password=PASSWORD)


def _open_chat(chromium, site, username: str, room: str = "lobby"):
    context = chromium.new_context(viewport={"width": 900, "height": 700})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{site.gateway.http_url}/accounts/login/?next=/chat/{room}/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/chat/{room}/")
    _wait_open(page)
    return page


def _wait_open(page) -> None:
    page.wait_for_selector("#chat-status[data-state=open]")


def _say(page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def _wait_message(page, text: str) -> None:
    page.locator("#chat-messages li .text", has_text=text).first.wait_for()


def _texts(page) -> list[str]:
    return page.locator("#chat-messages li .text").all_inner_texts()


def _connected(username: str):
    from websockets_app.models import WebSocketSession

    return list(WebSocketSession.objects.filter(user__username=username, connected=True))


def _used_tokens(username: str) -> int:
    from websockets_app.models import WebSocketToken

    return WebSocketToken.objects.filter(user__username=username, used=True).count()


def _wait_for(condition, page, timeout_ms: int = TIMEOUT_MS):
    """Poll a database condition while letting the page's event loop run."""
    for _ in range(timeout_ms // 50):
        value = condition()
        if value:
            return value
        page.wait_for_timeout(50)
    raise AssertionError("condition not met in time")


def test_two_people_chat_change_rooms_and_survive_a_dropped_socket(chromium, site):
    from project.chat.models import ChatMessage

    _user("alice")
    _user("bob")
    alice = _open_chat(chromium, site, "alice")
    bob = _open_chat(chromium, site, "bob")

    # Both in the lobby: each sees the other's message, and the messages are kept.
    _say(alice, "hello from alice")
    _wait_message(bob, "hello from alice")
    _say(bob, "hi alice")
    _wait_message(alice, "hi alice")
    assert _texts(alice) == ["hello from alice", "hi alice"]
    assert list(ChatMessage.objects.filter(room="lobby").values_list("text", flat=True).order_by("id")) == [
        "hello from alice",
        "hi alice",
    ]
    # History comes from the database: a fresh page shows the conversation so far.
    bob.reload()
    _wait_open(bob)
    assert _texts(bob) == ["hello from alice", "hi alice"]

    # Bob moves to the garden: a new connection, on the new channel, with a fresh token.
    tokens_before = _used_tokens("bob")
    bob.fill("#room-input", "garden")
    bob.press("#room-input", "Enter")
    bob.wait_for_selector("#chat-room:has-text('garden')")
    _wait_open(bob)
    _wait_for(lambda: [s for s in _connected("bob") if s.channel_name == "garden"], bob)
    assert [s.channel_name for s in _connected("bob")] == ["garden"]
    assert _used_tokens("bob") == tokens_before + 1
    assert bob.url.endswith("/chat/garden/")
    # The room field names the room Bob is in now, not the one the page was rendered for.
    assert bob.get_attribute("#room-input", "placeholder") == "garden"
    assert bob.input_value("#room-input") == ""
    assert _texts(bob) == []
    _say(bob, "anyone in the garden?")
    _wait_message(bob, "anyone in the garden?")
    _say(alice, "lobby only")
    _wait_message(alice, "lobby only")
    assert "lobby only" not in _texts(bob)
    assert "anyone in the garden?" not in _texts(alice)

    # The gateway loses Alice's socket and never tells the app: her row stays "connected".
    [lost] = _connected("alice")
    tokens_before = _used_tokens("alice")
    assert site.run(site.gateway.drop(lost.connection_id, send_disconnect=False))
    [fresh] = _wait_for(lambda: [s for s in _connected("alice") if s.connection_id != lost.connection_id], alice)
    _wait_open(alice)
    assert _used_tokens("alice") == tokens_before + 1  # the reconnect fetched a fresh token
    assert fresh.channel_name == "lobby"

    # The next broadcast to the lobby reaches Alice's new connection and finds the old one gone.
    _say(alice, "back again")
    _wait_message(alice, "back again")
    lost.refresh_from_db()
    assert not lost.connected

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alice.screenshot(path=str(SCREENSHOTS / "chat-lobby.png"), full_page=True)
    bob.screenshot(path=str(SCREENSHOTS / "chat-garden.png"), full_page=True)
    assert (SCREENSHOTS / "chat-lobby.png").stat().st_size > 0


def _online(page) -> list[str]:
    return page.locator("#chat-online li").all_inner_texts()


def _wait_online(page, names: list[str]) -> None:
    """Wait until the page's online list shows exactly these people."""
    page.wait_for_function(
        "(names) => JSON.stringify([...document.querySelectorAll('#chat-online li')].map((li) => li.textContent)"
        ".sort()) === JSON.stringify(names)",
        arg=sorted(names),
    )


def test_a_dropped_connection_comes_back_with_the_messages_it_missed_once_in_order(chromium, site):
    _user("alice")
    _user("bob")
    alice = _open_chat(chromium, site, "alice")
    bob = _open_chat(chromium, site, "bob")
    _wait_online(alice, ["alice", "bob"])
    _wait_online(bob, ["alice", "bob"])
    _say(bob, "before the drop")
    _wait_message(alice, "before the drop")

    # Alice's network goes: the gateway drops her socket (and tells the app), and for a while she cannot get a
    # token to reconnect with.
    def no_network(route) -> None:
        route.fulfill(status=503, body="offline")

    alice.route("**/api/ws-token/", no_network)
    [lost] = _connected("alice")
    assert site.run(site.gateway.drop(lost.connection_id))
    _wait_online(bob, ["bob"])
    for n in (1, 2, 3):
        _say(bob, f"missed {n}")
    _wait_message(bob, "missed 3")
    assert "missed 1" not in _texts(alice)

    # Back online: the client reconnects, resumes, and the server replays the three.
    alice.unroute("**/api/ws-token/", no_network)
    [fresh] = _wait_for(lambda: [s for s in _connected("alice") if s.connection_id != lost.connection_id], alice)
    _wait_open(alice)
    _wait_message(alice, "missed 3")
    fresh.refresh_from_db()
    assert fresh.resume_count == 1  # replayed, not reloaded
    assert alice.evaluate("window.chatClient.lastSeq()") == 4
    _wait_online(bob, ["alice", "bob"])
    _wait_online(alice, ["alice", "bob"])
    alice.wait_for_timeout(500)  # anything arriving twice would show by now
    assert _texts(alice) == ["before the drop", "missed 1", "missed 2", "missed 3"]
    assert _texts(bob) == ["before the drop", "missed 1", "missed 2", "missed 3"]


def test_the_client_keeps_an_idle_connection_alive_and_flushes_what_was_queued(chromium, settings, aws_credentials):
    """ws-client.js on its own: messages sent before the socket opens arrive once it does; keepalives beat the
    gateway's idle timeout (shortened here to one second)."""
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    _user("carol")
    with gateway_for_tests(settings, idle_timeout=1.0) as site:
        settings.WEBSOCKETS = {**settings.WEBSOCKETS, "ALLOWED_ORIGINS": [site.gateway.http_url]}
        page = _open_chat(chromium, site, "carol")
        page.goto(f"{site.gateway.http_url}/")  # a page without a client of its own
        result = page.evaluate(
            """async ({url, tokenUrl}) => {
                const { WebSocketClient } = await import("/static/websockets_app/ws-client.js");
                const client = new WebSocketClient({ url, tokenUrl, channel: "solo", keepaliveSeconds: 0.3 });
                const seen = { pongs: 0, closes: 0, opens: 0 };
                client.addEventListener("message", (event) => { if (event.detail.pong) seen.pongs += 1; });
                client.addEventListener("close", () => { seen.closes += 1; });
                client.addEventListener("open", () => { seen.opens += 1; });
                client.send({ action: "ping" });  // before the socket exists: queued, sent on open
                await new Promise((resolve) => setTimeout(resolve, 3000));
                client.close();
                return seen;
            }""",
            {"url": site.gateway.ws_url, "tokenUrl": "/api/ws-token/"},
        )
        # One queued ping and about ten keepalives answered, on one connection the gateway never closed.
        assert result["opens"] == 1
        assert result["closes"] == 1  # the client's own close() at the end
        assert result["pongs"] >= 5
        invoker = site.gateway.invoker
        [solo] = [
            event["requestContext"]["connectionId"]
            for event in invoker.of_type("CONNECT")
            if event.get("queryStringParameters", {}).get("channel") == "solo"
        ]
        pings = [event for event in invoker.of_type("MESSAGE") if event["requestContext"]["connectionId"] == solo]
        assert result["pongs"] <= len(pings) <= result["pongs"] + 1  # the last one may cross the client's close()
        [closed] = _wait_for(
            lambda: [e for e in invoker.of_type("DISCONNECT") if e["requestContext"]["connectionId"] == solo], page
        )
        assert closed["requestContext"]["disconnectStatusCode"] == 1000  # closed by the client, never for idling


# -- every page at desktop and phone widths -----------------------------------------------------------------------

WIDTHS = (1280, 375)
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def _shoot(page, name: str, width: int) -> None:
    """A full-page screenshot, and no horizontal scrolling at this width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    assert page.evaluate(OVERFLOW) <= 0, f"{name} is wider than the window at {width} px"


def _css(page, selector: str, prop: str) -> str:
    return page.eval_on_selector(selector, f"element => getComputedStyle(element).{prop}")


def _sessions_for_the_admin_list(user) -> None:
    from websockets_app.models import ApiGateway, WebSocketSession

    gateway = ApiGateway.objects.create(
        api_name="chat-production-websocket-api", api_id="a1b2c3d4e5", region="eu-west-1", stage_name="production"
    )
    for n in range(3):
        WebSocketSession.objects.create(
            connection_id=f"L0SM9cOFvHcCIh{n}=",
            channel_name="a-rather-long-room-name.for@testing:widths",
            api_gateway=gateway,
            user=user,
        )


def test_every_page_fits_desktop_and_phone_widths_and_looks_finished(chromium, site, django_user_model):
    admin = django_user_model.objects.create_superuser("admin", password=PASSWORD)
    _sessions_for_the_admin_list(admin)
    base = site.gateway.http_url
    for width in WIDTHS:
        context = chromium.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)

        page.goto(f"{base}/")
        assert page.locator("link[rel=stylesheet]").count() == 1  # the site's one stylesheet, no web fonts
        assert "serif" not in _css(page, "body", "fontFamily").replace("sans-serif", "")
        _shoot(page, "home", width)

        page.goto(f"{base}/accounts/signup/")
        # Nothing typed yet: no field is marked invalid.
        assert _css(page, "#id_username", "borderTopColor") == _css(page, "#id_password1", "borderTopColor")
        assert _css(page, "#id_username", "borderTopColor") != "rgb(180, 35, 24)"
        _shoot(page, "signup", width)

        page.goto(f"{base}/accounts/login/")
        assert _css(page, "#id_username", "borderTopColor") != "rgb(180, 35, 24)"
        # "No account yet? Sign up." is one line of text.
        switch = page.locator(".card .switch")
        line_height = float(_css(page, ".card .switch", "lineHeight").removesuffix("px"))
        assert switch.bounding_box()["height"] < 1.5 * line_height
        page.fill("#id_username", "admin")
        page.fill("#id_password", "not the password")
        page.click("button[type=submit]")
        error = page.locator(".form-error")
        error.wait_for()
        assert "correct username and password" in error.inner_text()
        assert _css(page, ".form-error", "color") == "rgb(180, 35, 24)"
        assert float(_css(page, ".form-error", "fontSize").removesuffix("px")) >= 16
        _shoot(page, "signin-error", width)
        page.goto(f"{base}/accounts/login/")
        _shoot(page, "signin", width)

        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{base}/chat/lobby/")
        _wait_open(page)
        switch_button = page.locator("#room-form button").bounding_box()
        assert switch_button["x"] + switch_button["width"] <= width
        _shoot(page, "chat", width)

        page.goto(f"{base}/admin/websockets_app/websocketsession/")
        assert page.locator("#result_list tbody tr").count() >= 3
        _shoot(page, "admin-sessions", width)
        if width >= 1280:  # every column in view, beside the navigation and the filters, without scrolling
            assert page.eval_on_selector("#changelist .results", "e => e.scrollWidth - e.clientWidth") <= 0

        icon = page.request.get(f"{base}/favicon.ico")
        assert icon.status == 200
        assert icon.headers["content-type"].startswith("image/")
        context.close()
