"""In-app notifications: a bell with the unread count when a job ends, the inbox page, marking
read (one by following it, or all), each user's own only; no e-mail offered without SMTP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway_kit.jobs.queue import wait_for
from gateway_kit.jobs.states import TERMINAL

from ..conftest import login
from ..demo_support import chromium_browser, serving, wait_until
from ..jobs.conftest import World


def _bell(html: str) -> int:
    found = re.search(r'id="bell-count">(\d+)<', html)
    return int(found.group(1)) if found else 0


def test_a_job_end_rings_the_bell_until_read(tmp_path: Path) -> None:
    world = World(tmp_path)
    alice = world.login(world.alice)
    assert _bell(alice.get("/").get_data(as_text=True)) == 0 and 'id="bell"' in alice.get("/").get_data(
        as_text=True
    )
    ids = []
    for name in ("first", "second"):
        r = alice.post("/apps/echo", data={"message": "hi", "name": name, "resources.walltime": "60"})
        ids.append(int(r.headers["Location"].rsplit("/", 1)[1]))
    for job_id in ids:
        assert wait_for(world.app, job_id, set(TERMINAL), 30).state == "COMPLETED"
    assert _bell(alice.get("/jobs").get_data(as_text=True)) == 2
    page = alice.get("/notifications").get_data(as_text=True)
    assert f"Job {ids[0]} first (echo) completed" in page and f"Job {ids[1]} second (echo) completed" in page
    note = re.search(
        rf'name="id" value="(\d+)"><input type="hidden" name="next" value="/jobs/{ids[0]}"', page
    )
    assert note is not None

    # Others see none of it and cannot mark it read.
    bob = world.other_client(world.bob)
    assert _bell(bob.get("/").get_data(as_text=True)) == 0
    assert "Nothing yet" in bob.get("/notifications").get_data(as_text=True)
    bob.post("/notifications/read", data={"id": note.group(1)})
    assert _bell(alice.get("/").get_data(as_text=True)) == 2

    # Following one marks it read and opens its link; only our own paths are followed.
    r = alice.post("/notifications/read", data={"id": note.group(1), "next": f"/jobs/{ids[0]}"})
    assert r.status_code == 302 and r.headers["Location"] == f"/jobs/{ids[0]}"
    assert _bell(alice.get("/").get_data(as_text=True)) == 1
    r = alice.post("/notifications/read", data={"next": "//evil.example/"})
    assert r.headers["Location"] == "/notifications"
    assert _bell(alice.get("/").get_data(as_text=True)) == 0
    assert world.app.test_client().get("/notifications").status_code in (302, 401)


def test_email_is_offered_only_with_an_smtp_server(tmp_path: Path) -> None:
    world = World(tmp_path)
    alice = world.login(world.alice)
    assert 'name="notify_email"' not in alice.get("/apps/echo").get_data(as_text=True)
    world.app.config["JOBS_SMTP_HOST"] = "127.0.0.1"
    assert 'name="notify_email"' in alice.get("/apps/echo").get_data(as_text=True)


@pytest.mark.chromium
def test_the_submitted_message_goes_once_the_job_moves_on_and_the_bell_rings(tmp_path: Path) -> None:
    world = World(tmp_path)
    client = world.app.test_client()
    login(client, world.alice)
    cookie = client.get_cookie(world.app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None
    with chromium_browser() as browser, serving(world.app) as base:
        context = browser.new_context()
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base}])
        page = context.new_page()
        page.goto(base + "/apps/echo")
        page.fill("#name", "live")
        page.click("#job-form button[type=submit]")
        page.wait_for_selector("#job-state")
        job_id = int(page.url.rsplit("/", 1)[1])
        assert "submitted" in page.inner_text(".flash.transient")
        assert wait_for(world.app, job_id, set(TERMINAL), 30).state == "COMPLETED"
        wait_until(page, "document.querySelector('#job-state').textContent.trim() == 'COMPLETED'")
        wait_until(page, "document.querySelector('.flash.transient') === null")
        page.reload()
        assert page.inner_text("#bell-count") == "1"
        page.click("#bell")
        assert f"Job {job_id} live (echo) completed" in page.inner_text("#notifications")
