"""The demo's local mail outbox: the jobs demo part starts it and points the SMTP settings at
it; a job's e-mail lands there and its user reads it at /demo/mail (others do not)."""

from __future__ import annotations

import time
from pathlib import Path

from gateway_kit.demo import DemoContext
from gateway_kit.jobs.demo import JobsDemoPart
from gateway_kit.jobs.queue import queue_for, wait_for
from gateway_kit.jobs.states import TERMINAL

from ..jobs.conftest import World


def test_a_jobs_mail_is_read_at_the_demo_url(tmp_path: Path) -> None:
    ctx = DemoContext(instance_path=tmp_path / "instance", web_url="http://127.0.0.1:5000")
    part = JobsDemoPart()
    part.start(ctx)
    try:
        assert ctx.settings["JOBS_SMTP_HOST"] == "127.0.0.1" and ctx.settings["JOBS_DEMO_MAILBOX"]
        assert any("http://127.0.0.1:5000/demo/mail" in m for m in ctx.messages), ctx.messages
        world = World(
            tmp_path,
            **{k: ctx.settings[k] for k in ("JOBS_SMTP_HOST", "JOBS_SMTP_PORT", "JOBS_DEMO_MAILBOX")},
        )
        alice = world.login(world.alice)
        assert 'name="notify_email"' in alice.get("/apps/echo").get_data(as_text=True)
        r = alice.post("/apps/echo", data={"message": "hi", "name": "mailed", "notify_email": "on"})
        job_id = int(r.headers["Location"].rsplit("/", 1)[1])
        assert wait_for(world.app, job_id, set(TERMINAL), 30).state == "COMPLETED"
        queue_for(world.app).tick()  # the pass after the end sends notifications
        folder = Path(ctx.settings["JOBS_DEMO_MAILBOX"])
        deadline = time.monotonic() + 30
        while not list(folder.glob("*.eml")):
            assert time.monotonic() < deadline, "no mail arrived"
            time.sleep(0.1)
        page = alice.get("/demo/mail").get_data(as_text=True)
        assert f"Job {job_id} (echo) COMPLETED" in page and "alice@example.org" in page
        bob = world.other_client(world.bob)
        assert 'id="no-mail"' in bob.get("/demo/mail").get_data(as_text=True)
        assert f"Job {job_id}" in world.other_client(world.admin).get("/demo/mail").get_data(as_text=True)
    finally:
        part.stop()


def test_no_mail_page_outside_the_demo(tmp_path: Path) -> None:
    world = World(tmp_path)
    assert world.login(world.alice).get("/demo/mail").status_code == 404
