"""Uploads from the dataset page in headless Chromium: a 200 MB file dropped on the page, the page
reloaded mid-way, the same file dropped again (only the missing chunks travel), paused and resumed;
several files and a whole folder through the pickers."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway_kit.data.models import Dataset, DatasetFile, UploadChunk
from gateway_kit.db import db

from ..conftest import login
from ..demo_support import chromium_browser, serving, wait_until
from ..jobs.conftest import World

pytestmark = pytest.mark.chromium
SIZE = 200 * 1024 * 1024
CHUNK = 8 * 1024 * 1024
#: A 200 MB file made in the page in a blink: zeros with a counter every 4 KiB (so chunks differ).
MAKE_FILE = f"""() => {{
  const a = new Uint8Array({SIZE});
  for (let i = 0; i < a.length; i += 4096) {{ a[i] = (i >> 12) & 255; }}
  window.__big = new File([a], "big.bin");
}}"""
DROP = "() => { const dt = new DataTransfer(); dt.items.add(window.__big); return dt; }"


def _expected_sha() -> str:
    data = bytearray(SIZE)
    data[::4096] = bytes(k & 255 for k in range(SIZE // 4096))
    return hashlib.sha256(data).hexdigest()


def _received(world: World) -> int:
    with db.session_scope(world.app) as s:
        return int(s.scalar(select(func.count()).select_from(UploadChunk)) or 0)


def _files(world: World, uid: str) -> dict[str, tuple[int, str]]:
    with db.session_scope(world.app) as s:
        ds = s.scalars(select(Dataset).where(Dataset.uid == uid)).one()
        rows = s.scalars(select(DatasetFile).where(DatasetFile.dataset_id == ds.id))
        return {f.path: (f.size, f.sha256) for f in rows}


def _page(browser: Any, world: World, base: str, uid: str) -> Any:
    client = world.app.test_client()
    login(client, world.alice)
    cookie = client.get_cookie(world.app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None
    context = browser.new_context()
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/datasets/{uid}")
    return page, errors


def _dataset(world: World) -> str:
    c = world.login(world.alice)
    r = c.post("/datasets/new", data={"name": "Big data", "project": "astro", "visibility": "private"})
    assert r.status_code == 302, r.get_data(as_text=True)
    return str(r.headers["Location"].rsplit("/", 1)[1])


class Gate:
    """WSGI middleware before the gateway: lets ``allow`` chunk PUTs through, then holds the next
    ones (a network gone quiet) until :meth:`release`, which passes them on or drops them (503,
    nothing written: the browser that sent them has gone). Counts every chunk PUT."""

    def __init__(self, app: Any) -> None:
        self.app, self.lock, self.sent, self.held = app, threading.Lock(), [], 0
        self.allow = 0
        self.opened: tuple[threading.Event, list[bool]] = (threading.Event(), [False])

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] == "PUT" and "/chunks/" in environ["PATH_INFO"]:
            with self.lock:
                self.sent.append(environ["PATH_INFO"])
                hold = self.allow <= 0
                self.allow -= 1
                self.held += hold
                opened, drop = self.opened
            if hold:
                opened.wait(120)
                if drop[0]:
                    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                    return [b"dropped"]
        return self.app(environ, start_response)

    def reset(self, allow: int) -> None:
        with self.lock:
            self.allow, self.held, self.sent = allow, 0, []
            self.opened = (threading.Event(), [False])

    def release(self, drop: bool) -> None:
        opened, dropping = self.opened
        dropping[0] = drop
        opened.set()


def _wait(page: Any, done: Any, what: str) -> None:
    for _ in range(1200):
        if done():
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"{what} did not happen within 60 s")


def test_a_dropped_200_mb_file_resumes_after_a_reload_and_pauses(tmp_path: Path) -> None:
    world = World(tmp_path, DATA_CHUNK_MB=CHUNK / 1024 / 1024)
    uid = _dataset(world)
    chunks = SIZE // CHUNK
    gate = Gate(world.app)
    with chromium_browser() as browser, serving(gate) as base:
        page, errors = _page(browser, world, base, uid)
        # First visit: five chunks arrive, the next ones hang; the page is reloaded.
        gate.reset(allow=5)
        page.evaluate(MAKE_FILE)
        page.dispatch_event("#dropzone", "drop", {"dataTransfer": page.evaluate_handle(DROP)})
        _wait(page, lambda: _received(world) == 5 and gate.held == 3, "five chunks, three waiting")
        page.reload()
        gate.release(drop=True)
        unfinished = page.inner_text("#unfinished")
        assert "big.bin" in unfinished and f"5 of {chunks} chunks" in unfinished

        # Second visit: the same file dropped again; only the missing chunks are sent. Part-way
        # through it is paused (the chunks in flight finish), then resumed.
        gate.reset(allow=5)
        page.evaluate(MAKE_FILE)
        page.dispatch_event("#dropzone", "drop", {"dataTransfer": page.evaluate_handle(DROP)})
        _wait(page, lambda: _received(world) == 10 and gate.held == 3, "ten chunks, three waiting")
        page.click("#upload-list li button")
        gate.allow = chunks
        gate.release(drop=False)
        wait_until(page, "document.querySelector('#upload-list li[data-state=paused]') !== null")
        assert _received(world) == 13 and page.inner_text("#upload-list li button") == "Resume"
        with page.expect_navigation(timeout=120_000):  # all done: the page reloads with the file
            page.click("#upload-list li button")
        page.wait_for_selector("#files")
        assert "big.bin" in page.inner_text("#files") and page.query_selector("#unfinished") is None
        assert len(gate.sent) == chunks - 5 and len(set(gate.sent)) == len(gate.sent), gate.sent
        assert errors == []
    assert _files(world, uid) == {"big.bin": (SIZE, _expected_sha())}


def test_several_files_and_a_folder_from_the_pickers(tmp_path: Path) -> None:
    world = World(tmp_path)
    uid = _dataset(world)
    folder = tmp_path / "run-7"
    (folder / "logs").mkdir(parents=True)
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (folder / "logs" / "out.txt").write_text("done\n")
    one, two = tmp_path / "one.txt", tmp_path / "two.json"
    one.write_text("one\n")
    two.write_text('{"n": 2}\n')
    with chromium_browser() as browser, serving(world.app) as base:
        page, errors = _page(browser, world, base, uid)
        page.fill("#upload-folder", "inbox")
        with page.expect_navigation():
            page.set_input_files("#pick-files", [str(one), str(two)])
        with page.expect_navigation():
            page.set_input_files("#pick-folder", str(folder))
        assert errors == []
    got = _files(world, uid)
    assert set(got) == {"inbox/one.txt", "inbox/two.json", "run-7/a.csv", "run-7/logs/out.txt"}, got
    assert got["run-7/a.csv"] == (8, hashlib.sha256(b"x,y\n1,2\n").hexdigest())
