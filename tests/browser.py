"""Debian's Chromium driven by Playwright, for the browser tests (``make install`` installs the package)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """A headless Chromium; the test is skipped without one, or fails where REQUIRE_BROWSER is set (CI)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"Chromium is required here and not installed at {CHROMIUM} (apt-get install chromium).")
        pytest.skip("Chromium is not installed (apt-get install chromium, or make install as root).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()
