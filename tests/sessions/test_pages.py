"""The session pages: the expected charge before launch, launch, extend (within the limit), share
with another user from the page (they see it under "Shared with me" and may connect), stop sharing."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from gateway_kit.db import db
from gateway_kit.sessions.models import InteractiveSession

from ..demo_support import chromium_browser, serving
from .conftest import World


def _session(world: World, sid: int) -> InteractiveSession:
    with world.app.app_context():
        row = db.session.get(InteractiveSession, sid)
        assert row is not None
        db.session.expunge(row)
        return row


def test_launch_extend_and_share_from_the_page(tmp_path: Path) -> None:
    world = World(tmp_path)
    try:
        form = world.client.get("/interactive/launch/hello-web")
        # 1 CPU for 30 min at 1 SU per CPU-hour, shown before anything is launched.
        assert re.search(rb'id="estimate-su">0\.50</b> SUs at most', form.data), form.data
        r = world.client.post("/interactive/launch/hello-web", data={"hours": "0.5"})
        assert r.status_code == 302
        sid = int(r.headers["Location"].rsplit("#session-", 1)[1])

        r = world.client.post(f"/interactive/{sid}/extend", data={"minutes": "30"})
        assert r.status_code == 302 and _session(world, sid).resources["walltime"] == 3600
        world.client.post(f"/interactive/{sid}/extend", data={"minutes": "600"})
        page = world.client.get("/interactive/").get_data(as_text=True)
        assert "at most 14400 s in all" in page and _session(world, sid).resources["walltime"] == 3600

        assert "Shared with me" not in world.bob_client.get("/interactive/").get_data(as_text=True)
        world.client.post(f"/interactive/{sid}/share", data={"username": "nobody"})
        assert "no user &#39;nobody&#39;" in world.client.get("/interactive/").get_data(as_text=True)
        # Bob cannot share (or unshare) Alice's session: it does not exist for him.
        assert world.bob_client.post(f"/interactive/{sid}/share", data={"username": "bob"}).status_code == 404
        r = world.client.post(f"/interactive/{sid}/share", data={"username": "bob"})
        assert r.status_code == 302
        page = world.client.get("/interactive/").get_data(as_text=True)
        assert "is shared with bob" in page and "shared with bob</span>" in page

        row = world.run_until(sid, {"ready", "failed"})
        assert row.state == "ready", row.state_reason
        bobs = world.bob_client.get("/interactive/").get_data(as_text=True)
        assert "Shared with me" in bobs and f'id="shared-{sid}"' in bobs
        assert f'href="http://localhost/sessions/{sid}/"' in bobs or f"/sessions/{sid}/" in bobs
        assert (
            world.bob_client.get(f"/api/v1/sessions/{sid}").status_code == 404
        )  # sharing is connecting only

        r = world.client.post(f"/interactive/{sid}/unshare", data={"username": "bob"})
        assert r.status_code == 302
        assert "Shared with me" not in world.bob_client.get("/interactive/").get_data(as_text=True)
        world.client.post(f"/interactive/{sid}/unshare", data={"username": "bob"})
        assert "is not shared with" in world.client.get("/interactive/").get_data(as_text=True)
    finally:
        world.end_all()


@pytest.mark.chromium
def test_the_list_refreshing_itself_never_cancels_a_link_the_user_followed(tmp_path: Path) -> None:
    """My sessions reloads itself when a session changes state; a user who has just clicked a
    link (the launch form, here held back by the test) must land there, not back on the list."""
    world = World(tmp_path)
    r = world.client.post("/interactive/launch/hello-web", data={"hours": "0.5"})
    sid = int(r.headers["Location"].rsplit("#session-", 1)[1])  # queued: no worker runs here
    cookie = world.client.get_cookie(world.app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None
    with chromium_browser() as browser, serving(world.app) as base:
        context = browser.new_context()
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base}])
        page = context.new_page()
        page.goto(base + "/interactive/")
        page.wait_for_load_state("load")  # sessions.js runs and polls the API each second
        held: list[Any] = []
        page.route("**/interactive/launch/**", lambda route: held.append(route))
        seen: list[str] = []
        page.on("request", lambda request: seen.append(request.url))
        page.click("#launch-hello-web", no_wait_after=True)
        while not held:
            page.wait_for_timeout(50)
        # The session changes state while the launch form is on its way: the page's next polls
        # see it; it must keep polling (it stays), not request itself again (a reload).
        world.client.post(f"/interactive/{sid}/end")
        assert world.run_until(sid, {"ended"}).state == "ended"
        start = len(seen)
        deadline = time.monotonic() + 30
        while (
            sum("/api/v1/sessions" in u for u in seen[start:]) < 3
            and base + "/interactive/" not in seen[start:]
        ):
            assert time.monotonic() < deadline, seen[start:]
            page.wait_for_timeout(100)
        assert base + "/interactive/" not in seen[start:], "the list reloaded over the followed link"
        held[0].continue_()
        page.wait_for_selector("#estimate")
        assert page.url == base + "/interactive/launch/hello-web"
