"""The issue's Done-when on ``local`` and ``burst``, in a real browser (headless Chromium) against
``gateway-kit demo``.

alan logs in through the development provider, launches JupyterLab from the launch form twice
(the expected charge is shown): on ``local`` (the default) and on ``burst`` (the *Run on* select:
an instance of the demo's local cloud, whose agent runs the server), waits on "My sessions" for
both Connect links, opens each session through the demo's session proxy, creates a notebook and
executes a cell (its output proves the kernel WebSocket works through the proxy). ada (an
administrator) gets 404 on the same URLs. alan closes the tabs; the sessions are culled after
their idle timeout (capped short for the test) and their SUs show on the usage page. Two
JupyterLab starts per run, at the same time.

Nothing here races the idle timeout: each session is opened as soon as its Connect link shows
(a ready session that nobody opens is rightly culled after ``IDLE`` s), and an open JupyterLab
tab polls its server every 10 s through the proxy, which is activity; so one session's page can
take its time while the other waits. A cell is run only once the server says that the
notebook's kernel is connected and idle (JupyterLab's toolbar reads "idle" before any kernel
exists, and a cell run without a kernel is silently dropped).
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import pytest

from gateway_kit.jobs.accounting import fmt

from ..demo_support import chromium_browser, demo_env, login_with_dev_provider, require_chromium, running_demo

pytestmark = [pytest.mark.chromium, pytest.mark.slow]
IDLE = 25  # seconds


def _api(page: Any, url: str) -> Any:
    r = page.request.get(url)
    assert r.ok, (url, r.status)
    return r.json()


def _session(page: Any, url: str, sid: int) -> str:
    """The session's state and reason, for a failure message."""
    shown = _api(page, f"{url}/api/v1/sessions/{sid}")
    return f"session {sid}: {shown['state']} ({shown['state_reason']})"


def _kernel_ready(lab: Any, connect: str) -> None:
    """Wait until the server has the notebook's kernel idle with the page connected to it."""
    deadline = time.monotonic() + 120
    while True:
        kernels = _api(lab, connect + "api/kernels")
        if any(k["execution_state"] == "idle" and k["connections"] > 0 for k in kernels):
            return
        assert time.monotonic() < deadline, kernels
        lab.wait_for_timeout(500)


def _run_a_cell(lab: Any, connect: str) -> None:
    """On ``lab`` (JupyterLab at ``connect``, loading), create a notebook and run a cell."""
    lab.click(".jp-LauncherCard[data-category='Notebook']", timeout=120_000)
    editor = lab.locator(".jp-Notebook .jp-Cell").first.locator(".cm-content")
    editor.wait_for(timeout=60_000)
    _kernel_ready(lab, connect)
    editor.click()
    editor.fill("print(6 * 7, 'from the kernel')")
    lab.wait_for_function(
        "() => document.querySelector('.jp-Notebook .jp-Cell .cm-content').textContent.includes('6 * 7')"
    )
    editor.press("Shift+Enter")
    output = lab.locator(".jp-OutputArea-output").first
    output.wait_for(timeout=120_000)
    assert "42 from the kernel" in output.inner_text()


def test_jupyterlab_through_the_proxy(tmp_path: Any) -> None:
    require_chromium()
    if importlib.util.find_spec("jupyterlab") is None:
        pytest.fail("JupyterLab is not installed: pip install -e '.[dev]' (or the 'jupyter' extra)")
    env = demo_env(
        {
            "GATEWAY_KIT_JOBS_LOCAL_GPUS": "[]",
            "GATEWAY_KIT_SESSIONS_MAX_IDLE_TIMEOUT": str(IDLE),
            "GATEWAY_KIT_SESSIONS_ACTIVITY_WRITE_SECONDS": "2",
        },
        drop=("GATEWAY_KIT_", "OS_CLIENT_CONFIG"),
    )
    with running_demo(tmp_path, env=env) as demo, chromium_browser() as browser:
        url = demo.url
        alan = browser.new_context().new_page()
        login_with_dev_provider(alan, url, "alan")
        sids = {}
        for where in ("local", "burst"):
            alan.goto(f"{url}/interactive/")
            alan.click("#launch-jupyterlab")
            assert "Expected charge" in alan.inner_text("#estimate")
            alan.wait_for_load_state("load")  # sessions.js listens for the select's changes
            alan.select_option("#destination", where)
            alan.wait_for_selector(f"#estimate-destination:text-is('{where}')", timeout=10_000)
            alan.click("#launch")
            sids[where] = int(alan.url.rsplit("#session-", 1)[1])
        # The page refreshes itself when a state changes. Open each session as soon as it is
        # ready: its idle clock runs from then, and the open page keeps it busy.
        labs: dict[str, Any] = {}
        connects: dict[str, str] = {}
        deadline = time.monotonic() + 240
        while len(labs) < len(sids):
            assert alan.locator("tr[data-state=failed]").count() == 0, alan.inner_text("#sessions")
            assert time.monotonic() < deadline, alan.inner_text("#sessions")
            for where, sid in sids.items():
                link = alan.locator(f"#session-{sid} [data-role=connect]")
                if where in labs or link.count() == 0:
                    continue
                connect = link.get_attribute("href")
                assert connect is not None and connect.endswith(f"/sessions/{sid}/")
                lab = alan.context.new_page()
                response = lab.goto(connect + "lab", wait_until="commit")
                assert response is not None and response.status == 200, _session(alan, url, sid)
                labs[where], connects[where] = lab, connect
            alan.wait_for_timeout(500)
        for where, sid in sids.items():
            shown = _api(alan, f"{url}/api/v1/sessions/{sid}")
            assert shown["state"] == "ready" and shown["idle_timeout"] == IDLE
            assert shown["destination"] == where
            assert shown.get("backend_token") is None and "token" not in connects[where]

        for where, lab in labs.items():
            _run_a_cell(lab, connects[where])

        ada = browser.new_context().new_page()
        login_with_dev_provider(ada, url, "ada")
        for connect in connects.values():
            for path in ("", "lab", "api/kernels", "api/status"):
                response = ada.goto(connect + path)
                assert response is not None and response.status == 404, path
        for lab in labs.values():
            lab.close()

        deadline = time.monotonic() + IDLE + 120
        total = 0.0
        for where, sid in sids.items():
            while True:
                shown = _api(alan, f"{url}/api/v1/sessions/{sid}")
                if shown["state"] in ("ended", "failed") or time.monotonic() > deadline:
                    break
                time.sleep(2)
            assert shown["state"] == "ended", (where, shown)
            assert shown["state_reason"].startswith("culled: idle"), shown["state_reason"]
            assert shown["su_charged"] > 0
            total += shown["su_charged"]
            assert alan.context.new_page().goto(connects[where]).status == 404  # type: ignore[union-attr]
        usage = alan.context.new_page()  # alan's list page reloads itself when a state changes
        usage.goto(f"{url}/usage")
        row = usage.locator("#usage-demo tr", has_text="alan")
        assert fmt(total) in row.inner_text()  # the pages' one SU format
