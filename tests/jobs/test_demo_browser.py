"""The jobs issue's demo, in a real browser (headless Chromium) against the real ``gateway-kit demo``.

One demo serves every test of this module:

- alan logs in through the development provider's page, runs an application from its generated
  form and, on the job page and without reloading it, watches the state badge go to RUNNING and
  the log tail grow, then to COMPLETED; he downloads the output and sees the SUs charged on the
  usage page. The application (``gated-sleep``, loaded from a file like a site's own) is the
  ``sleep`` example that waits for a file the test creates before it ends: RUNNING is a state
  the job holds until the test has seen it, not a moment the page's refresh must land in;
- the same through the API with a personal access token created on the profile page (submit, poll,
  follow the log as Server-Sent Events until the end event, download the output);
- every page of the navigation renders (no 500, no console error) for a user, an operator and an
  admin.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway_kit.jobs.apps import literal

from ..demo_support import (
    chromium_browser,
    demo_env,
    login_with_dev_provider,
    require_chromium,
    running_demo,
    wait_until,
)

PASSWORDS = {"alan": "alan-dev-password", "grace": "grace-dev-password", "ada": "ada-dev-password"}
ALLOCATION = 0.1  # SUs
ORDER = ["QUEUED", "STAGING", "SUBMITTED", "RUNNING", "COMPLETED"]

pytestmark = pytest.mark.chromium


def sleep_output(n: int) -> str:
    return "".join(f"second {i + 1} of {n}\n" for i in range(n)) + "done\n"


#: The ``sleep`` example's output, then it waits for its gate (a file) before it prints "done".
GATED_SLEEP = """
import os, sys, time
n, gate = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    print(f"second {i + 1} of {n}", flush=True)
    time.sleep(1)
while not os.path.exists(gate):
    time.sleep(0.1)
print("done")
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's folder; ``gate`` in it lets the ``gated-sleep`` application end."""
    return tmp_path_factory.mktemp("jobs-demo")


@pytest.fixture(scope="module")
def demo(folder: Path) -> Iterator[str]:
    """The URL of a ``gateway-kit demo`` started once for the module."""
    require_chromium()
    command = json.dumps([sys.executable, "-c", literal(GATED_SLEEP), "{seconds}", str(folder / "gate")])
    apps = folder / "gated.toml"
    apps.write_text(
        '[[application]]\nid = "gated-sleep"\ntitle = "Gated sleep"\nversion = "1"\n'
        f"command = {command}\n"
        '[[application.inputs]]\nname = "seconds"\ntype = "integer"\nminimum = 0\nmaximum = 60\n'
        "[application.resources]\nwalltime = 120\n"
    )
    env = demo_env(
        {
            "GATEWAY_KIT_JOBS_POLL_INTERVAL": "0.3",
            "GATEWAY_KIT_JOBS_LOCAL_GPUS": "[]",
            "GATEWAY_KIT_JOBS_APPLICATION_FILES": json.dumps([str(apps)]),
        },
        drop=("GATEWAY_KIT_", "OS_CLIENT_CONFIG"),
    )
    with running_demo(folder, env=env) as running:
        yield running.url


@pytest.fixture(scope="module")
def browser(demo: str) -> Iterator[Any]:
    with chromium_browser() as b:
        yield b


def logged_in(browser: Any, url: str, username: str) -> Any:
    """A page of a new browser context, logged in as ``username`` through the dev provider."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    login_with_dev_provider(page, url, username, PASSWORDS[username])
    return page


def console_problems(page: Any) -> list[str]:
    """Console errors and uncaught exceptions of ``page`` from now on (a list that grows)."""
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text} ({page.url})") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e} ({page.url})"))
    return problems


def usage_of(page: Any, url: str, project: str) -> tuple[float, float]:
    """(SUs used, bar percentage) of ``project`` on the usage page, reached from the navigation."""
    page.goto(url + "/")
    page.click("header nav a:text-is('Usage')")
    page.wait_for_load_state("load")  # the bars get their width from the page's script
    card = page.locator(f"#usage-{project}")
    used = float(card.locator(".su-used").inner_text().replace(",", ""))
    bar = card.locator("[role=progressbar]").first
    pct = float(bar.get_attribute("aria-valuenow") or "nan")
    width = re.search(r"width:\s*([0-9.]+)%", bar.locator("span").get_attribute("style") or "")
    assert width is not None
    return used, max(pct, float(width.group(1)))


def in_order(states: list[str]) -> bool:
    ranks = [ORDER.index(s) for s in states]
    return ranks == sorted(ranks)


def _watch(page: Any, until: str, states: list[str], logs: list[str], log_has: str = "") -> None:
    """Record the job page's state badge and log tail (without reloading) until the badge shows
    ``until`` and the log has ``log_has``; any state seen must be a state of the job's path."""
    deadline = time.monotonic() + 120
    while True:
        snap = page.evaluate("""() => ({
            same: window.__sameDocument === true,
            state: document.querySelector('#job-state').textContent.trim(),
            log: document.querySelector('#log-stdout').textContent})""")
        assert snap["same"], f"the job page reloaded (states seen: {states})"
        if not states or states[-1] != snap["state"]:
            states.append(snap["state"])
        assert snap["state"] in ORDER, (states, page.inner_text("#job"))
        if snap["log"].strip() and (not logs or logs[-1] != snap["log"]):
            logs.append(snap["log"])
        if snap["state"] == until and log_has in snap["log"]:
            return
        assert time.monotonic() < deadline, (states, logs)
        page.wait_for_timeout(100)


def test_user_runs_an_example_from_the_form_and_watches_it_live(
    demo: str, folder: Path, browser: Any
) -> None:
    # The demo grants 1000 SUs, of which a few CPU-seconds are invisible on a bar: an admin sets
    # the demo project's allocation to a tenth of an SU first (through the allocations page).
    admin = logged_in(browser, demo, "ada")
    admin.click("header nav a:text-is('Allocations')")
    admin.fill("#alloc-demo input[name=amount]", str(ALLOCATION))
    admin.click("#alloc-demo button[value=set]")
    admin.wait_for_selector(".flash.success")
    admin.context.close()

    page = logged_in(browser, demo, "alan")
    assert "alan" in page.inner_text("#signed-in-as").lower()
    problems = console_problems(page)
    used_before, pct_before = usage_of(page, demo, "demo")

    # The catalog, then the application's generated form.
    page.click("header nav a:text-is('Applications')")
    page.wait_for_selector("#app-gated-sleep")
    page.click("#app-gated-sleep a.button")
    page.wait_for_selector("#job-form")
    seconds = 2
    page.fill("#in-seconds", str(seconds))
    page.fill("#name", "Two seconds")
    page.click("#job-form summary:text('Resources')")
    page.fill("#res-walltime", "60")
    page.click("#job-form button[type=submit]")
    page.wait_for_selector("#job-state")
    job_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # Watch the badge and the log tail, without reloading: RUNNING with the whole tail but
    # "done" (the job waits for its gate), then COMPLETED once the gate opens.
    states: list[str] = []
    logs: list[str] = []
    _watch(page, "RUNNING", states, logs, log_has=f"second {seconds} of {seconds}")
    (folder / "gate").touch()
    _watch(page, "COMPLETED", states, logs, log_has="done")
    assert in_order(states) and states[0] != "COMPLETED" and "RUNNING" in states, states
    assert len(logs) >= 2, logs  # the tail grew while the job ran
    assert all(sleep_output(seconds).startswith(s) for s in logs), logs
    assert page.text_content("#log-stdout") == sleep_output(seconds)

    # The events recorded every transition from QUEUED on.
    wait_until(page, "document.querySelector('#events').textContent.includes('COMPLETED')")
    events = page.inner_text("#events")
    assert "QUEUED" in events and "RUNNING" in events, events

    # The output, downloaded through the page's link; the SUs charged.
    page.wait_for_selector("#outputs a:text('stdout.txt')")
    assert page.locator("#cancel-form").count() == 0 or not page.is_visible("#cancel-form")
    with page.expect_download() as info:
        page.click("#outputs a:text('stdout.txt')")
    assert info.value.suggested_filename == "stdout.txt"
    assert Path(info.value.path()).read_text() == sleep_output(seconds)
    wait_until(page, "document.querySelector('#job-sus').textContent.includes('charged')")
    charged = float(page.inner_text("#job-sus").split()[0])
    assert 0 < charged < 0.01, charged  # a few CPU-seconds
    assert page.evaluate("window.__sameDocument === true")

    used_after, pct_after = usage_of(page, demo, "demo")
    assert used_after >= used_before + charged - 1e-4, (used_before, used_after, charged)
    assert pct_after >= pct_before + 100 * charged / ALLOCATION - 0.1, (pct_before, pct_after)
    assert re.search(r"\balan\b", page.inner_text("#usage-demo"))

    # My jobs lists it.
    page.click("header nav a:text-is('My jobs')")
    assert page.locator(f"a[href$='/jobs/{job_id}']").count() >= 1
    assert not problems, problems
    page.context.close()


def test_user_cancels_a_running_job_from_its_page(demo: str, browser: Any) -> None:
    page = logged_in(browser, demo, "alan")
    problems = console_problems(page)
    page.goto(demo + "/apps/sleep")
    # An hour, under a walltime of 4 minutes (its reservation fits the 0.1 SU the first test left):
    # the job ends when the test cancels it, so RUNNING is a state it holds, not a moment.
    page.fill("#in-seconds", "3600")
    page.click("#job-form summary:text('Resources')")
    page.fill("#res-walltime", "240")
    page.click("#job-form button[type=submit]")
    wait_until(page, "document.querySelector('#job-state').textContent.trim() == 'RUNNING'", timeout=120000)
    wait_until(page, "document.querySelector('#log-stdout').textContent.includes('second 1')", timeout=120000)
    page.once("dialog", lambda d: d.accept())  # "Cancel job N?"
    page.click("#cancel-form button[type=submit]")
    page.wait_for_selector(".flash.success:text('cancel requested')")
    page.evaluate("window.__sameDocument = true")
    wait_until(page, "document.querySelector('#job-state').textContent.trim() == 'CANCELED'", timeout=120000)
    assert page.evaluate("window.__sameDocument === true")
    wait_until(page, "!document.querySelector('#cancel-form')")  # nothing left to cancel
    wait_until(page, "document.querySelector('#events').textContent.includes('CANCELED')")
    assert "done" not in page.text_content("#log-stdout")
    assert not problems, problems
    page.context.close()


def follow(url: str, headers: dict[str, str]) -> tuple[str, str]:
    """The log text and the end event's state from the SSE follow endpoint."""
    text, end = [], None
    with requests.get(url, headers={**headers, "Accept": "text/event-stream"}, stream=True, timeout=30) as r:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        event, data = "message", []
        for line in r.iter_lines(decode_unicode=True):
            if line == "":
                if data:
                    body = json.loads("\n".join(data))
                    if event == "end":
                        end = body["state"]
                        break
                    text.append(body["data"])
                event, data = "message", []
            elif line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data.append(line.split(":", 1)[1].lstrip())
    assert end is not None, "the stream closed without an end event"
    return "".join(text), end


def test_the_same_through_the_api_with_a_token_made_on_the_profile_page(demo: str, browser: Any) -> None:
    page = logged_in(browser, demo, "alan")
    page.click("#profile-link")
    page.fill("input[name=name]", "laptop")
    page.check("input[name=scopes][value='jobs:read']")
    page.check("input[name=scopes][value='jobs:write']")
    page.click("form[action$='/profile/tokens'] button[type=submit]")
    token = page.inner_text("#new-token code").strip()
    assert len(token) > 20
    page.reload()  # shown once only
    assert token not in page.content() and "laptop" in page.inner_text("#tokens")
    page.context.close()

    api = demo + "/api/v1"
    auth = {"Authorization": f"Bearer {token}"}
    before = {
        p["project"]: p for p in requests.get(api + "/usage", headers=auth, timeout=10).json()["projects"]
    }
    r = requests.post(
        api + "/jobs",
        headers={**auth, "Idempotency-Key": "browser-api-1"},
        json={"application": "sleep", "inputs": {"seconds": 3}, "name": "API", "resources": {"walltime": 30}},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["state"] in ORDER and job["state"] != "COMPLETED", job
    job_url = f"{api}/jobs/{job['id']}"

    log, end = follow(job_url + "/logs/follow?stream=stdout", auth)
    assert end == "COMPLETED" and log == sleep_output(3), (end, log)

    deadline = time.monotonic() + 20
    while (job := requests.get(job_url, headers=auth, timeout=10).json())["state"] != "COMPLETED":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["su_charged"] is not None and job["su_charged"] > 0, job
    events = requests.get(job_url + "/events", headers=auth, timeout=10).json()["events"]
    transitions = [e["to"] for e in events if e["to"]]
    assert transitions[0] == "QUEUED" and transitions[-1] == "COMPLETED", events
    assert in_order(transitions), events

    outputs = requests.get(job_url + "/outputs", headers=auth, timeout=10).json()["outputs"]
    out = next(o for o in outputs if o["path"] == "stdout.txt")
    body = requests.get(demo + out["url"], headers=auth, timeout=10)
    assert body.status_code == 200 and body.text == sleep_output(3)

    after = {
        p["project"]: p for p in requests.get(api + "/usage", headers=auth, timeout=10).json()["projects"]
    }
    project = next(p for p in after if after[p]["su_used"] > before[p]["su_used"])
    assert after[project]["su_used"] == pytest.approx(
        before[project]["su_used"] + job["su_charged"], abs=1e-5
    )
    # Without the token's scope, or without a token, no access.
    assert requests.get(job_url, timeout=10).status_code in (401, 403)


@pytest.mark.parametrize("username, role", [("alan", "user"), ("grace", "operator"), ("ada", "admin")])
def test_every_page_of_the_navigation_renders_for_each_role(
    demo: str, browser: Any, username: str, role: str
) -> None:
    page = logged_in(browser, demo, username)
    problems = console_problems(page)
    page.click("#profile-link")
    assert page.inner_text("#role") == role
    hrefs = page.eval_on_selector_all("header nav a", "els => els.map(a => a.getAttribute('href'))")
    hrefs += ["/profile"]
    assert "/applications" in hrefs and "/usage" in hrefs, hrefs
    assert ("/admin/allocations" in hrefs) == (role == "admin"), hrefs
    seen = {}
    for href in dict.fromkeys(hrefs):
        response = page.goto(demo + href)
        assert response is not None
        page.wait_for_load_state("load")
        seen[href] = response.status
        assert page.locator("#signed-in-as").count() == 1, (href, page.content()[:500])
    assert all(status < 400 for status in seen.values()), seen
    assert not problems, problems
    page.context.close()
