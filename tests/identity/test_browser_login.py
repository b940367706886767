"""A real browser logs in to the demo through the development provider's page (headless Chromium)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..demo_support import chromium_browser, running_demo, sign_in_on_dev_provider_page


@pytest.mark.chromium
def test_demo_login_through_dev_provider_page(tmp_path: Path) -> None:
    with (
        chromium_browser() as browser,
        running_demo(tmp_path, instance=tmp_path / "instance", args=["--only", "devidp"]) as (url, _, _),
    ):
        page = browser.new_page()
        page.goto(url)
        page.click("#login-link")
        page.click("#provider-dev")
        page.wait_for_selector("#username")
        assert "DEVELOPMENT" in page.content()
        sign_in_on_dev_provider_page(page, "ada", "ada-dev-password")
        assert page.url.rstrip("/") == url.rstrip("/")
        assert page.inner_text("#signed-in-as") == "Ada Lovelace"
        assert page.locator("a", has_text="Users").count() == 1  # ada is a demo admin
        page.click("#logout")
        page.wait_for_selector("#login-link", timeout=15000)
