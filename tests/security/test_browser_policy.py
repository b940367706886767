"""Defect 2 in a real browser (headless Chromium): framing is refused; pages raise no CSP violation."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import login, make_user

from ..demo_support import chromium_browser, serving

pytestmark = pytest.mark.chromium
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " at " + e.sourceFile);
});
"""


def _signed_in_context(browser: Any, app: Any, base: str) -> Any:
    client = app.test_client()
    login(client, make_user(app, "root", role="admin", display_name="Root Admin"))
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None
    context = browser.new_context()
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base}])
    context.add_init_script(RECORD_VIOLATIONS)
    return context


def _page_paths(app: Any) -> list[str]:
    skip = {"/logout", "/login", "/metrics"}
    paths = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and not rule.arguments and rule.rule not in skip
    }
    return sorted(paths | {"/no/such/page"})


def test_pages_raise_no_csp_violation_and_refuse_framing(app: Any) -> None:
    def framer(environ: Any, start_response: Any) -> list[bytes]:
        target = environ["QUERY_STRING"]
        start_response("200 OK", [("Content-Type", "text/html")])
        return [f'<!doctype html><iframe id="f" src="{target}"></iframe>'.encode()]

    with chromium_browser() as browser, serving(app) as base, serving(framer) as other:
        context = _signed_in_context(browser, app, base)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        visited = 0
        for path in _page_paths(app):
            page.goto(base + path, wait_until="load")
            violations = page.evaluate("window.__csp")
            assert violations == [], (path, violations)
            visited += 1
        assert visited > 10
        # The usage bars get their width from the static script, not from a style attribute.
        page.goto(base + "/profile", wait_until="load")
        assert page.inner_text("#signed-in-as") == "Root Admin"
        assert page.evaluate("window.__csp") == []
        assert not [m for m in console if "Content Security Policy" in m], console

        # Another origin (another port of the same host) frames the signed-in profile page.
        page.goto(f"{other}/?{base}/profile", wait_until="load")
        frame = page.frame_locator("#f")

        def frame_url() -> str:
            framed = [f for f in page.frames if f != page.main_frame]
            return framed[0].url if framed else ""

        deadline = time.monotonic() + 20
        while frame_url() in ("", "about:blank") and time.monotonic() < deadline:
            page.wait_for_timeout(100)  # poll for the frame's final document
        assert frame_url().startswith("chrome-error://"), frame_url()
        assert frame.locator("#signed-in-as").count() == 0
        context.close()
