"""The README's picture of the chat, taken from the real stack: ``make screenshots`` writes docs/images/chat.png.

Not part of the suite (the file name does not start with ``test_``): it rewrites a committed image, so it runs only
when named, as ``make screenshots`` does. It uses the browser tests' setup: the local gateway on free ports with the
project's handlers on the test database, and headless Chromium driven by Playwright.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_browser_chat import PASSWORD, _open_chat, _say, _user, _wait_message, chromium, site

IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
VIEWPORT = {"width": 1280, "height": 720}

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["PASSWORD", "chromium", "site"]  # the fixtures, imported so pytest finds them here


def test_chat_screenshot(chromium, site) -> None:
    _user("ada")
    _user("grace")
    grace = _open_chat(chromium, site, "grace")
    ada = _open_chat(chromium, site, "ada")
    ada.set_viewport_size(VIEWPORT)
    _say(grace, "Hello Ada, the socket is up.")
    _wait_message(ada, "Hello Ada, the socket is up.")
    _say(ada, "Hi Grace! Each message is stored, then broadcast through the Management API.")
    _wait_message(grace, "broadcast through the Management API")
    _say(grace, "And a reconnect fetches whatever we missed.")
    _wait_message(ada, "whatever we missed")
    IMAGES.mkdir(parents=True, exist_ok=True)
    target = IMAGES / "chat.png"
    ada.screenshot(path=str(target))
    assert target.stat().st_size > 0
