"""In a real browser: a profiled page's badge leads to its profile, which shows the suggestion.

Headless Chromium is Debian's ``/usr/bin/chromium`` (``make test`` installs
it), driven by Playwright against a live server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

from tests.middleware.conftest import client_for, profiler_settings

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("django_db", "wide_store")]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "middleware"


def require_chromium() -> None:
    """Skip (or fail under PROTOLENS_REQUIRE_ALL=1) when Chromium is not installed."""
    if Path(CHROMIUM).exists():
        return
    reason = (
        f"{CHROMIUM} is missing and could not be installed here; `make test` installs it "
        "with apt-get install chromium"
    )
    if os.environ.get("PROTOLENS_REQUIRE_ALL") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


@contextlib.contextmanager
def live_server() -> Iterator[str]:
    """Django served by wsgiref on 127.0.0.1 in a thread; yields the base URL."""
    server = make_server(
        "127.0.0.1", 0, WSGIHandler(), server_class=_Server, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_badge_leads_to_the_profile_page_which_shows_the_suggestion():
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    session = client_for("staff").cookies[settings.SESSION_COOKIE_NAME].value
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with profiler_settings(), live_server() as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base}]
            )
            page = context.new_page()
            page.goto(f"{base}/wide/")
            badge = page.locator("#protolens-badge")
            expect(badge).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "page-with-badge.png"))
            with context.expect_page() as opened:
                badge.click()
            profile = opened.value
            profile.wait_for_load_state()
            suggestion = profile.locator(".suggestion pre").first
            expect(suggestion).to_have_text('with projection(MwWide, "title", "views", "score"):')
            expect(profile.locator("#decodes")).to_contain_text("MwWide")
            profile.screenshot(path=str(ARTIFACTS / "profile.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "profile.png").stat().st_size > 10_000
