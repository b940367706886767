"""The data issue's demo flow, in a real browser (headless Chromium) against the real
``gateway-kit demo``: a user logs in through the development provider, creates a dataset and uploads
a file through the pages, runs the ``dataset-stats`` example application on it from the form, and
downloads the job's results.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import require_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TEXT = b"the quick brown fox\njumps over\nthe lazy dog\n"


@pytest.mark.chromium
@pytest.mark.slow
def test_user_uploads_a_dataset_runs_an_example_on_it_and_downloads_the_results(
        tmp_path: Path) -> None:
    require_service("Chromium", CHROMIUM.exists(),
                    "install Debian's chromium (apt-get install chromium); .ci/services.sh does")
    from playwright.sync_api import sync_playwright

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GATEWAY_KIT_", "OS_CLIENT_CONFIG"))}
    # alan's group astro-lab (released by the development provider) makes him a member of the
    # demo's project (the demo's IDENTITY_PROJECT_MAP): his datasets are created in it.
    env.update(GATEWAY_KIT_JOBS_POLL_INTERVAL="0.3", GATEWAY_KIT_JOBS_LOCAL_GPUS="[]")
    ready = tmp_path / "ready"
    demo = subprocess.Popen(
        [sys.executable, "-m", "gateway_kit", "demo", "--port", "0", "--ready-file", str(ready)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    sample = tmp_path / "poem.txt"
    sample.write_bytes(TEXT)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert demo.poll() is None, demo.stdout.read().decode() if demo.stdout else ""
            assert time.monotonic() < deadline, "the demo did not start in 60 s"
            time.sleep(0.2)
        url = ready.read_text().strip().rstrip("/")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                         headless=True)
            page = browser.new_page()
            page.set_default_timeout(15000)

            # Log in as alan through the development provider's own page.
            page.goto(url + "/")
            page.click("#login-link")
            page.click("#provider-dev")
            page.fill("#username", "alan")
            page.fill("#password", "alan-dev-password")
            page.click("#sign-in")
            page.wait_for_selector("#signed-in-as")
            assert "alan" in page.inner_text("#signed-in-as").lower()

            # Create a dataset and upload a file into it.
            page.goto(url + "/datasets/new")
            page.fill("input[name=name]", "Poems")
            page.fill("textarea[name=description]", "A few lines to count.")
            page.fill("input[name=license]", "CC0-1.0")
            page.click("form button[type=submit]")
            page.wait_for_selector("#dataset-id")
            uid = page.inner_text("#dataset-id").strip()
            assert uid.startswith("ds-"), uid
            page.set_input_files("input[name=file]", str(sample))
            page.click("form[action$='/upload'] button[type=submit]")
            page.wait_for_selector("#files a:text('poem.txt')")
            assert hashlib.sha256(TEXT).hexdigest() in page.inner_text("#files")

            # Run the dataset-stats example on it from the application's form.
            page.goto(url + "/apps")
            assert "Dataset statistics" in page.content()
            page.goto(url + "/apps/dataset-stats")
            page.fill("#in-dataset", uid)
            page.fill("#name", "Poem statistics")
            page.click("#job-form button[type=submit]")
            page.wait_for_selector("#job-state")
            try:
                page.wait_for_function(
                    "document.querySelector('#job-state').textContent.trim() == 'COMPLETED'",
                    timeout=40000)
            except Exception:
                page.reload()
                raise AssertionError(page.inner_text("#job")) from None
            page.wait_for_selector("#outputs a:text('stats.json')")

            # Download the results through the job page's links.
            with page.expect_download() as info:
                page.click("#outputs a:text('stats.json')")
            download = info.value
            assert download.suggested_filename == "stats.json"
            stats = json.loads(Path(download.path()).read_text())
            assert stats["files"] == [{"path": "poem.txt", "lines": 3, "words": 9,
                                       "bytes": len(TEXT),
                                       "sha256": hashlib.sha256(TEXT).hexdigest()}]
            assert stats["total"] == {"files": 1, "lines": 3, "words": 9, "bytes": len(TEXT)}
            with page.expect_download() as info:
                page.click("#outputs a:text('stats.tsv')")
            tsv = Path(info.value.path()).read_text().splitlines()
            assert tsv == ["path\tlines\twords\tbytes\tsha256",
                           f"poem.txt\t3\t9\t{len(TEXT)}\t{hashlib.sha256(TEXT).hexdigest()}"]
            browser.close()
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
