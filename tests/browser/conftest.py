"""Browser tests: Playwright's sync API driving Debian's Chromium against pytest-django's
live_server (a thread of this process, so django.core.mail.outbox and the SMS folder are shared).

Playwright's own browser download cannot work here, hence ``executable_path``. Mark each test
``@pytest.mark.browser``; select or skip them with ``-m browser`` / ``-m "not browser"``.
"""

import os
import re
from pathlib import Path

import pytest

from tests.browser.journey import LANGUAGES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RESULTS_DIR = Path(__file__).resolve().parents[2] / "test-results"


def screenshot_path(name: str) -> Path:
    """test-results/<name>.png (git-ignored), with the name made safe for a file system."""
    RESULTS_DIR.mkdir(exist_ok=True)
    return RESULTS_DIR / (re.sub(r"[^\w.-]+", "_", name).strip("_") + ".png")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the test item, so `page` can tell whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Browser tests run last (after pytest-django's own ordering), because the session-wide
    browser keeps Playwright's event loop running, and with it DJANGO_ALLOW_ASYNC_UNSAFE: no
    other test should run in, or start a subprocess from, that state."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def _csp_refusals(context) -> list[str]:
    """What the browser refused to load or run under the page's Content-Security-Policy (a
    script, a style, a frame), as Chromium reports it on the console: a journey that meets one
    fails, because a person's browser would have broken the page the same way."""
    refused = []

    def watch(page):
        page.on(
            "console",
            lambda message: (
                refused.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text
                else None
            ),
        )

    context.on("page", watch)
    return refused


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"Browser tests need Chromium at {CHROMIUM}: apt-get install chromium")
    # Playwright's sync API keeps an event loop running in this thread; Django refuses database
    # access from a thread with a running loop unless told it is safe (it is: our calls stay
    # synchronous). Set only while the browser is up, so it leaks into nothing else.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser context (no cookies) per test, in Chinese, pointed at live_server.

    ``page.goto("/accounts/login/")`` is relative to the live server. On failure a full-page
    screenshot is saved as test-results/<test name>.png.
    """
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    refused = _csp_refusals(context)
    page = context.new_page()
    yield page
    assert not refused, f"the browser refused what the page asked for: {refused}"
    failed = any(
        getattr(request.node, f"report_{when}", None) is not None
        and getattr(request.node, f"report_{when}").failed
        for when in ("setup", "call")
    )
    if failed:
        page.screenshot(path=screenshot_path(request.node.name), full_page=True)
    context.close()


@pytest.fixture
def screenshot(page):
    """``screenshot(name)``: save the whole page as test-results/<name>.png, for a person to
    look at; returns the path."""

    def take(name: str) -> Path:
        path = screenshot_path(name)
        page.screenshot(path=path, full_page=True)
        return path

    return take


@pytest.fixture(params=list(LANGUAGES), ids=["zh", "en"])
def contexts(browser, live_server, request):
    """For journeys with several people, each in their own browser, run once in Chinese and once
    in English: ``open_page()``, a fresh browser context (no cookies) in the test's language,
    each screenshot on failure as test-results/<test>-<n>.png; ``language``: Django's code for
    it."""
    opened = []

    def open_page():
        context = browser.new_context(
            base_url=live_server.url,
            locale=request.param,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(10_000)
        refused.extend(_csp_refusals(context))
        opened.append(context)
        return context.new_page()

    refused = []
    yield {"open_page": open_page, "language": LANGUAGES[request.param]}
    assert not refused, f"the browser refused what the page asked for: {refused}"
    failed = any(
        getattr(request.node, f"report_{when}", None) is not None
        and getattr(request.node, f"report_{when}").failed
        for when in ("setup", "call")
    )
    for n, context in enumerate(opened):
        if failed:
            for page in context.pages:
                page.screenshot(path=screenshot_path(f"{request.node.name}-{n}"), full_page=True)
        context.close()
