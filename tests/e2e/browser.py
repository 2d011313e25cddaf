"""A real browser for the website's end-to-end tests (and benchmarks): Debian's chromium driven by Playwright.

``launched()`` starts chromium once (Playwright's own browser downloads are never used: they need the network);
``chromium`` is the same as a module-scoped pytest fixture that skips, saying why, when chromium or Playwright is
missing, and fails instead when ``CI`` is set (``./dev setup`` installs chromium, or records why it could not).
``watched()`` opens a page in a fresh context that records what a user would never see but a test must: console
errors, Content-Security-Policy violations, uncaught exceptions, failed requests, error answers and dialogs. Every
wait is bounded, so no test can hang on a page; requests that would leave this machine are refused.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.conftest import strict_ci
from tests.e2e.conftest import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request, Response, Route, ViewportSize

if TYPE_CHECKING or importlib.util.find_spec("playwright") is not None:
    from playwright.sync_api import expect as expect
else:  # the tests that would use it skip (``require_browser``), so importing this module must still work
    def expect(*_: object, **__: object) -> None:
        raise RuntimeError("Playwright for Python is not installed")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
INSTALL_FAILED = ROOT / ".build" / "chromium-install-failed"  # written by ./dev setup when it cannot install it
TIMEOUT_MS = 15_000  # every Playwright action and wait, so a broken page fails a test instead of hanging it
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")

# The page reports CSP violations to the console, where the console listener finds them. Init scripts run
# through the DevTools protocol, so the page's own CSP does not block this one.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`securitypolicyviolation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
                + ` at ${event.sourceFile || "?"}:${event.lineNumber}`);
});
"""


def unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed in .venv: run ./dev setup"
    if not os.access(CHROMIUM, os.X_OK):
        if INSTALL_FAILED.exists():
            return INSTALL_FAILED.read_text().strip()
        return f"{CHROMIUM} is missing: run ./dev setup (it installs Debian's chromium) or apt-get install chromium"
    return None


def require_browser() -> None:
    """Skip (fail, when CI is set) a test that needs the browser when it is not there."""
    reason = unavailable()
    if reason is None:
        return
    if strict_ci():
        pytest.fail(f"the browser tests must not skip when CI is set: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def launched() -> Iterator[Browser]:
    """Headless chromium for as long as the block runs (``RuntimeError`` when it is not available)."""
    reason = unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
                                             timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One browser for a whole test module: launching it costs about a second."""
    require_browser()
    with launched() as browser:
        yield browser


@dataclass
class PageLog:
    """What went wrong on a page while it was open, as readable lines."""

    console_errors: list[tuple[str, str]] = field(default_factory=list)  # (text, URL); CSP violations included
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    error_responses: list[tuple[int, str]] = field(default_factory=list)  # (status, URL)
    refused_requests: list[str] = field(default_factory=list)  # would have left this machine
    dialogs: list[str] = field(default_factory=list)

    def problems(self, *, allow_statuses: tuple[int, ...] = ()) -> list[str]:
        """Everything recorded, except answers with a status in ``allow_statuses`` (an expected 404 page) and
        the console line chromium writes for each of them."""
        allowed = {url for status, url in self.error_responses if status in allow_statuses}
        return [
            *(f"console error: {text} ({url})" for text, url in self.console_errors
              if not (url in allowed and text.startswith(_ERROR_STATUS))),
            *self.page_errors,
            *self.failed_requests,
            *(f"answered {status}: {url}" for status, url in self.error_responses if status not in allow_statuses),
            *(f"refused off-machine request: {url}" for url in self.refused_requests),
            *(f"dialog: {dialog}" for dialog in self.dialogs),
        ]


_ERROR_STATUS = "Failed to load resource: the server responded with a status of "


@dataclass
class Watched:
    page: Page
    log: PageLog


@contextlib.contextmanager
def watched(browser: Browser, *, java_script: bool = True, viewport: ViewportSize | None = None,
            timeout_ms: int = TIMEOUT_MS, accept_dialogs: bool = False) -> Iterator[Watched]:
    """A page in a context of its own (no shared cookies or cache), every problem recorded in ``log``; dialogs
    are dismissed (and recorded as problems) unless ``accept_dialogs``, for pages that ask to confirm."""
    context = browser.new_context(java_script_enabled=java_script, viewport=viewport or VIEWPORT,
                                  service_workers="block")
    try:
        context.set_default_timeout(timeout_ms)
        context.set_default_navigation_timeout(timeout_ms)
        log = PageLog()
        if java_script:
            context.add_init_script(_REPORT_CSP_VIOLATIONS)

        def route(route: Route) -> None:
            host = urlsplit(route.request.url).hostname or ""
            if route.request.url.startswith(("http:", "https:", "ws:", "wss:")) and host not in LOOPBACK:
                log.refused_requests.append(route.request.url)
                route.abort("blockedbyclient")
            else:
                route.continue_()

        context.route("**/*", route)
        page = context.new_page()

        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                log.console_errors.append((message.text, message.location.get("url", "")))

        def request_failed(request: Request) -> None:
            # ERR_ABORTED: cancelled because the page went on (the favicon, when a test navigates at once)
            if request.url not in log.refused_requests and request.failure != "net::ERR_ABORTED":
                log.failed_requests.append(f"request failed: {request.url}: {request.failure}")

        def response(answer: Response) -> None:
            if answer.status >= 400:
                log.error_responses.append((answer.status, answer.url))

        def dialog(opened: Dialog) -> None:
            if accept_dialogs:
                opened.accept()
                return
            log.dialogs.append(f"{opened.type}: {opened.message}")
            opened.dismiss()

        page.on("console", console)
        page.on("pageerror", lambda error: log.page_errors.append(f"uncaught: {error}"))
        page.on("requestfailed", request_failed)
        page.on("response", response)
        page.on("dialog", dialog)
        yield Watched(page, log)
    finally:
        context.close()

