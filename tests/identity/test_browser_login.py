"""A real browser logs in to the demo through the development provider's page (headless Chromium)."""

from __future__ import annotations

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


@pytest.mark.chromium
def test_demo_login_through_dev_provider_page(tmp_path: Path) -> None:
    require_service("Chromium", CHROMIUM.exists(),
                    "install Debian's chromium (apt-get install chromium); .ci/services.sh does")
    from playwright.sync_api import sync_playwright

    ready = tmp_path / "ready"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    demo = subprocess.Popen(
        [sys.executable, "-m", "gateway_kit", "demo", "--port", "0", "--only", "devidp",
         "--instance", str(tmp_path / "instance"), "--ready-file", str(ready)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert demo.poll() is None, demo.stdout.read().decode() if demo.stdout else ""
            assert time.monotonic() < deadline, "the demo did not start in 60 s"
            time.sleep(0.2)
        url = ready.read_text().strip()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page()
            page.goto(url)
            page.click("#login-link")
            page.click("#provider-dev")
            page.wait_for_selector("#username")
            assert "DEVELOPMENT" in page.content()
            page.fill("#username", "ada")
            page.fill("#password", "ada-dev-password")
            page.click("#sign-in")
            page.wait_for_selector("#signed-in-as", timeout=15000)
            assert page.url.rstrip("/") == url.rstrip("/")
            assert page.inner_text("#signed-in-as") == "Ada Lovelace"
            assert page.locator("a", has_text="Users").count() == 1  # ada is a demo admin
            page.click("#logout")
            page.wait_for_selector("#login-link", timeout=15000)
            browser.close()
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
