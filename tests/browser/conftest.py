"""Real Chromium (Debian's package) driving the storefront of a whole shop started by `roboshop up`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import RunningShop, start_shop
from tests.support import integration_required

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Expect, Page

CHROMIUM = os.environ.get("ROBOSHOP_CHROMIUM", "/usr/bin/chromium")
# Playwright's own browser downloads are not available here: Debian's Chromium, kept quiet and offline.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}


def _chromium_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    return None


# Module scope, not session: sync Playwright runs its own event loop on this thread while it is open,
# which would collide with pytest-asyncio's loops in the async tests collected after this directory.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = _chromium_missing()
    if missing is not None:
        if integration_required():
            pytest.fail(f"{missing}; browser tests are mandatory here (ROBOSHOP_REQUIRE_INTEGRATION=1)")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shop(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShop]:
    running = start_shop(tmp_path_factory.mktemp("shop"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def context(browser: Browser, shop: RunningShop) -> Iterator[BrowserContext]:
    """A fresh browser profile: a new visitor with no cookies and an empty sessionStorage."""
    fresh = browser.new_context(base_url=shop.gateway, viewport=DESKTOP)
    fresh.set_default_timeout(10_000)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def check(browser: Browser) -> Expect:
    """Playwright's retrying assertions (imported late: without Playwright the browser fixture skips first)."""
    from playwright.sync_api import expect

    return expect
