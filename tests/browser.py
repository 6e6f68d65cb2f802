"""Chromium driven by Playwright, for the browser tests: Debian's package where it is installed, otherwise the
build ``playwright install chromium`` downloads (``make test`` installs one or the other, never asking for a
password)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

SYSTEM_CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """A headless Chromium; the test is skipped without one, or fails where REQUIRE_BROWSER is set (CI)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        executable = SYSTEM_CHROMIUM if os.path.exists(SYSTEM_CHROMIUM) else playwright.chromium.executable_path
        if not os.path.exists(executable):
            message = "Chromium is not installed (make browser installs it: apt-get, or playwright install chromium)."
            if os.environ.get("REQUIRE_BROWSER"):
                pytest.fail(f"{message} REQUIRE_BROWSER is set.")
            pytest.skip(message)
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()
