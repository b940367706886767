"""Every page, as a visitor, a user, an operator and an administrator, in headless Chromium at
390, 1024 and 1440 px: nothing wider than the window, no console error, no CSP violation, the
navigation reachable (behind its menu button on a phone) and the user's name readable."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL

from ..conftest import login, make_user
from ..demo_support import chromium_browser, serving
from ..jobs.conftest import World

pytestmark = pytest.mark.chromium
WIDTHS = (1440, 1024, 390)
RECORD = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""
SKIP_PREFIXES = ("/api/v1", "/static", "/healthz", "/metrics", "/login/", "/logout", "/_", "/sessions/")
#: How far past the window the page's content reaches (0 when nothing overflows).
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
#: Elements that stick out of the window (for the failure message).
CULPRITS = """() => [...document.querySelectorAll('body *')].filter(e => {
  const r = e.getBoundingClientRect(); return r.right > document.documentElement.clientWidth + 1;
}).slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className)"""


def _seed(world: World) -> list[str]:
    """A finished job and a dataset with a file, both alice's; the pages that show them."""
    c = world.login(world.alice)
    r = c.post("/apps/echo", data={"message": "hello", "name": "a job", "resources.walltime": "60"})
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    r = c.post("/apps/echo", data={"message": "again", "name": "b job", "resources.walltime": "60"})
    other = int(r.headers["Location"].rsplit("/", 1)[1])
    for j in (job_id, other):
        assert wait_for(world.app, j, set(TERMINAL), 30).state == "COMPLETED"
    r = c.post(
        "/datasets/new", data={"name": "Reference contigs", "project": "astro", "visibility": "public"}
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    uid = r.headers["Location"].rsplit("/", 1)[1]
    up = c.post(
        f"/datasets/{uid}/upload",
        data={"file": (io.BytesIO(b">c1\nACGT\n"), "contigs.fasta")},
        content_type="multipart/form-data",
    )
    assert up.status_code == 302
    return [
        f"/jobs/{job_id}",
        f"/jobs/{job_id}/resubmit",
        f"/jobs/{job_id}/files/",
        f"/jobs/{job_id}/files/stdout.txt",
        f"/jobs/compare?job={job_id}&job={other}",
        f"/datasets/{uid}",
        f"/datasets/{uid}/view/contigs.fasta",
        "/apps/echo",
        "/interactive/launch/hello-web",
        f"/admin/users/{world.alice.id}",
        "/api/docs",
    ]


def _pages(world: World, extra: list[str], user: Any) -> list[str]:
    """The HTML pages ``user`` (None: a visitor) may open: every GET route without arguments
    and the ``extra`` ones, those answering 200 with HTML."""
    client = world.app.test_client()
    if user is not None:
        login(client, user)
    rules = {
        r.rule
        for r in world.app.url_map.iter_rules()
        if "GET" in (r.methods or ()) and not r.arguments and not r.rule.startswith(SKIP_PREFIXES)
    }
    out = []
    for path in sorted(rules | set(extra)):
        resp = client.get(path)
        if resp.status_code == 200 and resp.mimetype == "text/html":
            out.append(path)
    return out


def _context(browser: Any, world: World, base: str, user: Any) -> Any:
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    if user is not None:
        client = world.app.test_client()
        login(client, user)
        cookie = client.get_cookie(world.app.config.get("SESSION_COOKIE_NAME", "session"))
        assert cookie is not None
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base}])
    context.add_init_script(RECORD)
    return context


def _check_page(page: Any, base: str, path: str, problems: list[str]) -> None:
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    resp = page.goto(base + path, wait_until="load")
    assert resp is not None and resp.status == 200, (path, resp and resp.status)
    title = page.title()
    if path != "/" and not title.endswith(" · Test gateway") and title != "Test gateway":
        problems.append(f"{path}: title {title!r} is not '<page> · <gateway>'")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        over = page.evaluate(OVERFLOW)
        if over > 1:
            problems.append(f"{path} at {width} px: {over} px too wide: {page.evaluate(CULPRITS)}")
    violations = page.evaluate("window.__csp")
    if violations:
        problems.append(f"{path}: CSP violations {violations}")


def _check_navigation(page: Any, base: str, signed_in: bool, problems: list[str]) -> None:
    page.goto(base + "/", wait_until="load")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        if width < 800:
            assert not page.is_visible("header nav"), "the navigation is collapsed on a phone"
            page.click("#nav-toggle")
            assert page.get_attribute("#nav-toggle", "aria-expanded") == "true"
        assert page.is_visible("header nav a:text-is('Applications')"), width
        over = page.evaluate(OVERFLOW)
        if over > 1:
            problems.append(f"navigation at {width} px: {over} px too wide: {page.evaluate(CULPRITS)}")
        if signed_in:
            assert page.is_visible("#signed-in-as"), width
            colour = page.evaluate("getComputedStyle(document.querySelector('#signed-in-as')).color")
            behind = page.evaluate("getComputedStyle(document.querySelector('#topbar')).backgroundColor")
            assert colour != behind and colour == "rgb(255, 255, 255)", (width, colour, behind)
        if width < 800:
            page.click("#nav-toggle")
            assert not page.is_visible("header nav")


def test_every_page_at_three_widths_for_every_role(tmp_path: Path) -> None:
    world = World(
        tmp_path,
        GATEWAY_NAME="Test gateway",
        PLUGINS=["gateway_kit.jobs.examples", "gateway_kit.sessions.examples"],
    )
    operator = make_user(world.app, "olga", role="operator", display_name="Olga Operator-With-A-Long-Name")
    extra = _seed(world)
    roles = {"visitor": None, "user": world.alice, "operator": operator, "admin": world.admin}
    problems: list[str] = []
    visited: dict[str, int] = {}
    with chromium_browser() as browser, serving(world.app) as base:
        for role, user in roles.items():
            pages = _pages(world, extra, user)
            context = _context(browser, world, base, user)
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda m, c=console: c.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, c=console: c.append(f"page error: {e}"))
            for path in pages:
                _check_page(page, base, path, problems)
                if console:
                    problems.append(f"{role} {path}: console errors {console[:]}")
                    console.clear()
            _check_navigation(page, base, user is not None, problems)
            visited[role] = len(pages)
            context.close()
    assert problems == [], "\n".join(problems)
    # Each role saw the pages it may open: more for staff than for users, more than visitors.
    assert visited["visitor"] >= 4 and visited["user"] >= 12, visited
    assert visited["operator"] > visited["user"] and visited["admin"] > visited["operator"], visited
