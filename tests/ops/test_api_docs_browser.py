"""/api/docs in headless Chromium: operations grouped by tag, the agents' endpoints apart, and
"Try it" sending a request with a personal access token under the strict CSP."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import make_app, make_token, make_user
from tests.demo_support import chromium_browser, serving, wait_until


def test_docs_page_groups_by_tag_and_tries_requests_with_a_token(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    token = make_token(app, make_user(app, "alan"), ["profile", "jobs:read"])
    with chromium_browser() as browser, serving(app) as base:
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        assert page.goto(base + "/api/docs").status == 200
        tags = page.eval_on_selector_all("section.api-tag > h2", "hs => hs.map(h => h.textContent)")
        assert {"jobs", "datasets", "identity", "meta"} <= set(tags) and "agent" not in tags, tags
        internal = page.inner_text("#internal")
        assert "/api/v1/agent/work" in internal and "/api/v1/agent/work" not in page.inner_text("#tag-jobs")

        me = page.locator("details.op", has_text="/api/v1/me").first
        me.locator("summary").click()
        # Without a token nor a session: the API answers 401 as problem+json.
        me.locator("form.try-it button").click()
        wait_until(
            page,
            "Array.from(document.querySelectorAll('.try-result')).some(p => /\\n401 /.test(p.textContent))",
        )
        page.fill("#try-token", token)
        me.locator("form.try-it button").click()
        wait_until(
            page,
            "Array.from(document.querySelectorAll('.try-result')).some(p => /\\n200 /.test(p.textContent))",
        )
        answer = me.locator(".try-result").inner_text()
        assert json.loads(answer.split("\n\n", 1)[1])["username"] == "alan", answer
        assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
