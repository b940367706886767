"""The session pages: the expected charge before launch, launch, extend (within the limit), share
with another user from the page (they see it under "Shared with me" and may connect), stop sharing."""

from __future__ import annotations

import re
from pathlib import Path

from gateway_kit.db import db
from gateway_kit.sessions.models import InteractiveSession

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
